// SPDX-License-Identifier: Apache-2.0
// The baseline for the agent's bare round trip (bench/hello_bench.mjs): the
// most trivial Unix-socket server with the agent's framing (4-byte big-endian
// length, then the message), which answers every frame with the same bytes.
// One thread per connection, blocking I/O, each answer in one write:
// nothing a real server could leave out.
//   p2pcp-echo-socket SOCKET_PATH
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::uint32_t kMaxFrame = 64U << 20U;

bool writeAll(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t put = ::write(fd, data, n);
    if (put <= 0) {
      return false;
    }
    data += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

// Reads what has arrived (usually a whole frame in one read) and answers
// each complete frame as it is found.
void serve(int fd) {
  std::vector<char> buffer(64 * 1024);
  std::size_t have = 0;
  for (;;) {
    if (have == buffer.size()) {
      buffer.resize(buffer.size() * 2);
    }
    const ssize_t got = ::read(fd, buffer.data() + have, buffer.size() - have);
    if (got <= 0) {
      break;
    }
    have += static_cast<std::size_t>(got);
    std::size_t used = 0;
    while (have - used >= 4) {
      std::uint32_t header = 0;
      std::memcpy(&header, buffer.data() + used, sizeof header);
      const std::uint32_t length = ntohl(header);
      if (length > kMaxFrame) {
        ::close(fd);
        return;
      }
      if (have - used < 4 + static_cast<std::size_t>(length)) {
        if (buffer.size() < 4 + static_cast<std::size_t>(length)) {
          buffer.resize(4 + static_cast<std::size_t>(length));
        }
        break;
      }
      if (!writeAll(fd, buffer.data() + used, 4 + static_cast<std::size_t>(length))) {
        ::close(fd);
        return;
      }
      used += 4 + static_cast<std::size_t>(length);
    }
    std::memmove(buffer.data(), buffer.data() + used, have - used);
    have -= used;
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: p2pcp-echo-socket SOCKET_PATH\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = argv[1];
  if (path.size() >= sizeof address.sun_path) {
    std::fprintf(stderr, "p2pcp-echo-socket: socket path too long\n");
    return 2;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::unlink(path.c_str());
  if (listener < 0 ||
      ::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 16) != 0) {
    std::perror("p2pcp-echo-socket");
    return 1;
  }
  for (;;) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    std::thread(serve, fd).detach();
  }
}
