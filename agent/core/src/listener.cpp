// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/listener.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

namespace p2pcp::agent {

namespace {
[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// How long a new agent waits for one that holds the lock but does not answer
// (it is stopping: logging out of tokens, stopping helpers).
constexpr auto kStoppingAgentGrace = std::chrono::seconds(5);

bool acceptsConnections(const std::filesystem::path& socketPath) {
  const UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socketPath.string();
  if (probe.get() < 0 || path.size() >= sizeof address.sun_path) {
    return false;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
}

// Takes the lock file. False when another agent holds it and serves (or is
// still starting: it holds the lock before it listens). An agent that holds
// it but no longer answers is stopping: wait for it, bounded, so that a
// client that starts an agent right after stopping one gets a new one.
bool takeLock(int lockFd, const std::filesystem::path& socketPath) {
  const auto deadline = std::chrono::steady_clock::now() + kStoppingAgentGrace;
  for (;;) {
    if (::flock(lockFd, LOCK_EX | LOCK_NB) == 0) {
      return true;
    }
    if (errno != EWOULDBLOCK) {
      fail("cannot lock " + socketPath.string() + ".lock");
    }
    if (acceptsConnections(socketPath) || std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}
}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::optional<Listener> openListener(const std::filesystem::path& socketPath) {
  Listener listener;
  listener.path = socketPath;
  if (sd_listen_fds(1) == 1) {
    // systemd made the socket (with the unit's permissions) and hands it over.
    listener.socket = UniqueFd(SD_LISTEN_FDS_START);
    listener.socketActivated = true;
    return listener;
  }

  ensurePrivateDirectory(socketPath.parent_path());
  const std::string lockPath = socketPath.string() + ".lock";
  listener.lock =
      UniqueFd(::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (listener.lock.get() < 0) {
    fail("cannot open " + lockPath);
  }
  if (!takeLock(listener.lock.get(), socketPath)) {
    return std::nullopt;  // another agent serves this socket
  }

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socketPath.string();
  if (path.size() >= sizeof address.sun_path) {
    throw std::runtime_error("socket path too long: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

  listener.socket = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.socket.get() < 0) {
    fail("socket");
  }
  // We hold the lock, so a socket file left here is stale (a crashed agent).
  ::unlink(path.c_str());
  const mode_t previous = ::umask(0177);
  const int bound =
      ::bind(listener.socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  ::umask(previous);
  if (bound != 0) {
    fail("cannot bind " + path);
  }
  if (::listen(listener.socket.get(), SOMAXCONN) != 0) {
    fail("cannot listen on " + path);
  }
  return listener;
}

}  // namespace p2pcp::agent
