#include "p2pcp/agent/private_directory.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace p2pcp::agent {

namespace {
[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
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

}  // namespace p2pcp::agent
