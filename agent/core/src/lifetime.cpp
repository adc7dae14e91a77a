// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/lifetime.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <string>

#include "p2pcp/agent/log.hpp"

namespace p2pcp::agent {

namespace {

// What the kernel appends to /proc/self/exe once the file was unlinked.
constexpr std::string_view kDeleted = " (deleted)";

std::optional<std::string> selfExe() {
  std::array<char, PATH_MAX> buffer{};
  const ssize_t n = ::readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  if (n <= 0) {
    return std::nullopt;
  }
  return std::string(buffer.data(), static_cast<std::size_t>(n));
}

}  // namespace

ExecutableWatch::ExecutableWatch() {
  struct stat self {};
  const auto path = selfExe();
  if (!path || ::stat("/proc/self/exe", &self) != 0) {
    logWarning("cannot tell which program file this is: an upgrade is not noticed");
    return;
  }
  path_ = *path;
  device_ = self.st_dev;
  inode_ = self.st_ino;
  known_ = true;
}

bool ExecutableWatch::replaced() const {
  if (!known_) {
    return false;
  }
  if (const auto now = selfExe(); now && now->ends_with(kDeleted)) {
    return true;
  }
  // A package manager renames the new file over the old one, which the check
  // above sees; this one also sees a file put at the path some other way.
  struct stat atPath {};
  if (::stat(path_.c_str(), &atPath) != 0) {
    return true;
  }
  return atPath.st_dev != device_ || atPath.st_ino != inode_;
}

bool IdleTimer::expired(bool idleNow, Clock::time_point now) {
  if (!idleNow) {
    idleSince_.reset();
    return false;
  }
  if (!idleSince_) {
    idleSince_ = now;
  }
  return now - *idleSince_ >= limit_;
}

}  // namespace p2pcp::agent
