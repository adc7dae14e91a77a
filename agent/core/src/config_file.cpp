// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/config_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "p2pcp/agent/json_parse.hpp"

namespace p2pcp::agent {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const std::string& reason) {
  throw std::runtime_error(file.string() + ": " + reason);
}

std::string kindOf(mode_t mode) {
  if (S_ISDIR(mode)) {
    return "a directory";
  }
  if (S_ISFIFO(mode)) {
    return "a FIFO";
  }
  if (S_ISSOCK(mode)) {
    return "a socket";
  }
  if (S_ISCHR(mode) || S_ISBLK(mode)) {
    return "a device";
  }
  return "something other than a file";
}

// Closes the descriptor on every path out.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&&) = delete;
  FileDescriptor& operator=(FileDescriptor&&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::string readAll(const FileDescriptor& fd, const fs::path& file) {
  std::string text;
  std::array<char, 16384> buffer{};
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail(file, std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) {
      return text;
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {
      fail(file, "larger than " + std::to_string(kMaxConfigFileBytes) + " bytes");
    }
  }
}

}  // namespace

std::string readRegularFile(const fs::path& file) {
  struct stat link {};
  if (::lstat(file.c_str(), &link) != 0) {
    fail(file, std::string("cannot look at it: ") + std::strerror(errno));
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer; we refuse it below.
  const FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    const int error = errno;
    if (S_ISLNK(link.st_mode) && (error == ENOENT || error == ENOTDIR)) {
      std::error_code ignored;
      fail(file, "is a symbolic link to " + fs::read_symlink(file, ignored).string() +
                     ", which does not exist");
    }
    fail(file, std::string("cannot open: ") + std::strerror(error));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    fail(file, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    fail(file, "is " + kindOf(st.st_mode) + ", not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxConfigFileBytes) {
    fail(file, "larger than " + std::to_string(kMaxConfigFileBytes) + " bytes");
  }
  return readAll(fd, file);
}

std::optional<nlohmann::json> readConfigFile(const fs::path& file) {
  struct stat link {};
  if (::lstat(file.c_str(), &link) != 0 && errno == ENOENT) {
    return std::nullopt;  // nothing there at all: the defaults
  }
  const std::string text = readRegularFile(file);
  nlohmann::json doc;
  try {
    doc = parseStrictJson(text);
  } catch (const JsonParseError& e) {
    fail(file, e.what());
  }
  if (!doc.is_object()) {
    fail(file, "must hold a JSON object");
  }
  return doc;
}

}  // namespace p2pcp::agent
