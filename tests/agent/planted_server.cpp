// SPDX-License-Identifier: Apache-2.0
#include "planted_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace p2pcp::testing {

namespace {

using namespace std::chrono_literals;

// The steps of the child's set-up, to say which one failed.
enum class Step : int { Listening, Socket, Bind, Chown, Setgroups, Setresgid, Setresuid, Listen };

const char* stepName(Step step) {
  switch (step) {
    case Step::Listening:
      return "nothing";
    case Step::Socket:
      return "socket()";
    case Step::Bind:
      return "bind()";
    case Step::Chown:
      return "lchown()";
    case Step::Setgroups:
      return "setgroups()";
    case Step::Setresgid:
      return "setresgid()";
    case Step::Setresuid:
      return "setresuid()";
    case Step::Listen:
      return "listen()";
  }
  return "?";
}

// The child writes one Ready when it listens (or failed), one Summary when it
// stops. Each is a single write() under PIPE_BUF, so it arrives whole.
struct Ready {
  Step failed = Step::Listening;
  int error = 0;
};

constexpr std::size_t kKeptBytes = 2048;
struct Summary {
  int connections = 0;
  std::size_t bytes = 0;
  std::size_t keptBytes = 0;
  std::array<char, kKeptBytes> kept{};
};
static_assert(sizeof(Summary) < PIPE_BUF);

// A client that sent a request waits for the answer: after this much silence the
// planted server has everything and closes, so that client sees the end.
constexpr int kIdleMs = 500;

void writeAll(int fd, const void* data, std::size_t size) noexcept {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, bytes, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
}

void readConnection(int fd, Summary& summary) noexcept {
  std::array<char, 4096> buffer{};
  for (;;) {
    pollfd readable{fd, POLLIN, 0};
    const int ready = ::poll(&readable, 1, kIdleMs);
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      break;
    }
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    const auto got = static_cast<std::size_t>(n);
    const std::size_t keep = std::min(got, kKeptBytes - summary.keptBytes);
    std::memcpy(summary.kept.data() + summary.keptBytes, buffer.data(), keep);
    summary.keptBytes += keep;
    summary.bytes += got;
  }
  ::close(fd);
  ++summary.connections;
}

[[noreturn]] void failChild(int resultFd, Step step) noexcept {
  const Ready ready{step, errno};
  writeAll(resultFd, &ready, sizeof ready);
  ::_exit(1);
}

// The child, after fork(): async-signal-safe calls only, no allocation.
[[noreturn]] void serve(const sockaddr_un& address, uid_t uid, gid_t gid, int resultFd,
                        int stopFd) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    failChild(resultFd, Step::Socket);
  }
  if (::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    failChild(resultFd, Step::Bind);
  }
  if (uid != ::geteuid()) {
    // The socket file is theirs as well, as if they had made it.
    if (::lchown(address.sun_path, uid, gid) != 0) {
      failChild(resultFd, Step::Chown);
    }
    if (::setgroups(0, nullptr) != 0) {
      failChild(resultFd, Step::Setgroups);
    }
    if (::setresgid(gid, gid, gid) != 0) {
      failChild(resultFd, Step::Setresgid);
    }
    if (::setresuid(uid, uid, uid) != 0) {
      failChild(resultFd, Step::Setresuid);
    }
  }
  // Only now: the peer credentials a client reads are those of this call.
  if (::listen(listener, 16) != 0) {
    failChild(resultFd, Step::Listen);
  }
  const Ready ready{};
  writeAll(resultFd, &ready, sizeof ready);

  Summary summary;
  for (;;) {
    std::array<pollfd, 2> fds{{{listener, POLLIN, 0}, {stopFd, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection >= 0) {
        readConnection(connection, summary);
      }
      continue;
    }
    if (fds[1].revents != 0) {
      break;
    }
  }
  // A client that connected just before the stop may still wait in the backlog.
  if (::fcntl(listener, F_SETFL, O_NONBLOCK) == 0) {
    for (int connection = -1;
         (connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
      readConnection(connection, summary);
    }
  }
  writeAll(resultFd, &summary, sizeof summary);
  ::_exit(0);
}

// Reads exactly `size` bytes within `timeout`; false on timeout or end of pipe.
bool readWithin(int fd, void* data, std::size_t size, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd readable{fd, POLLIN, 0};
    const int ready = ::poll(&readable, 1, static_cast<int>(std::max(left.count(), 0L)));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return false;
    }
    const ssize_t n = ::read(fd, bytes, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool canRunAs(uid_t uid, gid_t gid) {
  if (::geteuid() != 0) {
    return false;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    return false;
  }
  if (pid == 0) {
    const bool changed = ::setgroups(0, nullptr) == 0 && ::setresgid(gid, gid, gid) == 0 &&
                         ::setresuid(uid, uid, uid) == 0;
    ::_exit(changed ? 0 : 1);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return false;
    }
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

PlantedServer::PlantedServer(const std::filesystem::path& socket, uid_t uid, gid_t gid) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof address.sun_path) {
    throw std::runtime_error("socket path too long: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  std::array<int, 2> result{};
  std::array<int, 2> stop{};
  if (::pipe2(result.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  if (::pipe2(stop.data(), O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(result[0]);
    ::close(result[1]);
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(error));
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    ::close(result[0]);
    ::close(stop[1]);
    serve(address, uid, gid, result[1], stop[0]);
  }
  const int forkError = errno;
  ::close(result[1]);
  ::close(stop[0]);
  resultFd_ = result[0];
  stopFd_ = stop[1];
  if (pid_ < 0) {
    kill();
    throw std::runtime_error(std::string("fork: ") + std::strerror(forkError));
  }
  Ready ready{Step::Socket, 0};
  if (!readWithin(resultFd_, &ready, sizeof ready, 10s)) {
    kill();
    throw std::runtime_error("the planted server did not start");
  }
  if (ready.failed != Step::Listening) {
    kill();
    throw std::runtime_error(std::string("the planted server failed at ") + stepName(ready.failed) +
                             ": " + std::strerror(ready.error));
  }
}

PlantedServer::~PlantedServer() {
  kill();
}

PlantedServer::Received PlantedServer::stop() {
  ::close(stopFd_);
  stopFd_ = -1;
  Summary summary;
  const bool reported = readWithin(resultFd_, &summary, sizeof summary, 10s);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t done = ::waitpid(pid_, nullptr, WNOHANG);
    if (done == pid_ || (done < 0 && errno != EINTR)) {
      pid_ = -1;  // reaped: never signal a pid that may be reused
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  kill();  // closes the pipe, and ends a child that did not exit in time
  if (!reported) {
    throw std::runtime_error("the planted server did not report what it received");
  }
  return {summary.connections, summary.bytes, std::string(summary.kept.data(), summary.keptBytes)};
}

void PlantedServer::kill() noexcept {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (resultFd_ >= 0) {
    ::close(resultFd_);
    resultFd_ = -1;
  }
  if (stopFd_ >= 0) {
    ::close(stopFd_);
    stopFd_ = -1;
  }
}

}  // namespace p2pcp::testing
