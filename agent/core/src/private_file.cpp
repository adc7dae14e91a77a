// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/private_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "p2pcp/common/framing.hpp"

namespace p2pcp::agent {

namespace fs = std::filesystem;

void replacePrivateFile(const fs::path& file, std::string_view text) {
  fs::create_directories(file.parent_path());
  fs::path temp = file;
  temp += ".tmp";
  // O_EXCL|O_NOFOLLOW: never write through a planted link; 0600: private to the person.
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot write " + temp.string() + ": " + std::strerror(errno));
  }
  try {
    writeFully(fd, text.data(), text.size());
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), file.c_str()) != 0) {
    ::unlink(temp.c_str());
    throw std::runtime_error("cannot replace " + file.string() + ": " + std::strerror(errno));
  }
}

std::filesystem::path setAsideUnreadableFile(const std::filesystem::path& file) {
  std::filesystem::path aside = file;
  aside += ".corrupt";
  for (int n = 1; n < 100 && std::filesystem::symlink_status(aside).type() !=
                                 std::filesystem::file_type::not_found;
       ++n) {
    aside = file;
    aside += ".corrupt." + std::to_string(n);
  }
  std::error_code ec;
  std::filesystem::rename(file, aside, ec);
  return aside;
}

}  // namespace p2pcp::agent
