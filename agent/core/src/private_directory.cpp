// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/private_directory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace p2pcp::agent {

namespace {
[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

[[noreturn]] void failSystem(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

[[noreturn]] void refuse(const std::filesystem::path& dir, const std::string& reason) {
  throw UntrustedDirectory("refusing the agent socket directory " + dir.string() + ": " + reason);
}

std::string octal(mode_t mode) {
  std::array<char, 16> digits{};
  const auto written =
      std::to_chars(digits.data(), digits.data() + digits.size(), static_cast<unsigned>(mode), 8);
  return "0" + std::string(digits.data(), written.ptr);
}
}  // namespace

void ensurePrivateDirectory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    fail("cannot create " + dir.string());
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    fail("cannot inspect " + dir.string());
  }
  if (!S_ISDIR(st.st_mode)) {
    throw std::runtime_error(dir.string() + " is not a directory (a symlink is refused)");
  }
  if (st.st_uid != ::geteuid()) {
    throw std::runtime_error(dir.string() + " belongs to another user");
  }
  if ((st.st_mode & 077U) != 0 && ::chmod(dir.c_str(), 0700) != 0) {
    fail("cannot make " + dir.string() + " private");
  }
}

void verifyPrivateDirectory(const std::filesystem::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    failSystem(errno, "cannot inspect the agent socket directory " + dir.string());
  }
  if (S_ISLNK(st.st_mode)) {
    // Whoever can change the link can point us at their directory.
    refuse(dir, "it is a symbolic link; point the socket path at the directory itself");
  }
  if (!S_ISDIR(st.st_mode)) {
    refuse(dir, "it is not a directory");
  }
  if (st.st_uid != ::geteuid()) {
    refuse(dir, "owned by uid " + std::to_string(st.st_uid) + ", not by you (uid " +
                    std::to_string(::geteuid()) + ")");
  }
  if (const mode_t mode = st.st_mode & 07777U; mode != 0700U) {
    // Not repaired here: while it was open someone may have put a socket in it.
    refuse(dir, "its mode is " + octal(mode) +
                    ", not 0700; if you made it, check that nothing in it belongs to someone "
                    "else, then run chmod 700 " +
                    dir.string() + " (or remove it)");
  }
}

void createPrivateDirectory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    // New and ours, so nothing is in it yet: make it exactly 0700, which the
    // umask or a set-group-id parent may have changed. Through a descriptor
    // opened without following links, so it is the directory we just made.
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      failSystem(errno, "cannot open the new agent socket directory " + dir.string());
    }
    const int changed = ::fchmod(fd, 0700);
    const int error = errno;
    ::close(fd);
    if (changed != 0) {
      failSystem(error, "cannot make " + dir.string() + " private");
    }
  } else if (errno != EEXIST) {
    failSystem(errno, "cannot create the agent socket directory " + dir.string());
  }
  verifyPrivateDirectory(dir);
}

}  // namespace p2pcp::agent
