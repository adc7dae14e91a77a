// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/tokens/helper_process.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "p2pcp/agent/json_parse.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/common/framing.hpp"
#include "p2pcp/pkcs11/helper_wire.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace p2pcp::tokens {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kHelperFd = 3;  // where the helper finds its end of the socketpair
constexpr int kEventFd = 4;   // and the write end of its slot-event pipe

// Waits until fd is readable or the deadline passes.
bool readableBefore(int fd, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd ready{fd, POLLIN, 0};
    const int n = ::poll(&ready, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
    if (n > 0) {
      return true;
    }
    if (n < 0 && errno != EINTR) {
      return false;
    }
  }
}

// Reads exactly `size` bytes by the deadline; false on timeout or end of stream.
bool readWithin(int fd, char* out, std::size_t size, Clock::time_point deadline) {
  std::size_t done = 0;
  while (done < size) {
    if (!readableBefore(fd, deadline)) {
      return false;
    }
    const ssize_t got = ::read(fd, out + done, size - done);
    if (got == 0) {
      return false;
    }
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    done += static_cast<std::size_t>(got);
  }
  return true;
}

void wipeSecrets(json& request) {
  for (const char* name : {"pin", "contextPin"}) {
    if (const auto it = request.find(name); it != request.end() && it->is_string()) {
      auto& text = it->get_ref<std::string&>();
      OPENSSL_cleanse(text.data(), text.size());
    }
  }
}

}  // namespace

HelperProcess::HelperProcess(std::filesystem::path program, std::string modulePath)
    : program_(std::move(program)), modulePath_(std::move(modulePath)) {}

SlotEvents::~SlotEvents() {
  ::close(fd_);
}

bool SlotEvents::drain() const {
  bool any = false;
  std::array<char, 64> bytes{};
  for (;;) {
    const ssize_t got = ::read(fd_, bytes.data(), bytes.size());
    if (got > 0) {
      any = true;
      continue;
    }
    if (got < 0 && errno == EINTR) {
      continue;
    }
    return any;  // EAGAIN: nothing more; 0: the helper is gone
  }
}

std::shared_ptr<const SlotEvents> HelperProcess::slotEvents() const {
  const std::scoped_lock lock(eventsMutex_);
  return events_;
}

HelperProcess::~HelperProcess() {
  const std::scoped_lock lock(mutex_);
  stopLocked("");
}

std::uint64_t HelperProcess::generation() const {
  return generation_.load();
}

pid_t HelperProcess::pid() const {
  const std::scoped_lock lock(mutex_);
  return pid_;
}

void HelperProcess::startLocked() {
  std::array<int, 2> pair{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) != 0) {
    throw HelperUnavailable(std::string("socketpair: ") + std::strerror(errno));
  }
  // Slot events: the helper writes a byte per event (never blocking: a full
  // pipe already says "scan"); the agent polls the read end.
  std::array<int, 2> events{};
  if (::pipe2(events.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
    ::close(pair[0]);
    ::close(pair[1]);
    throw HelperUnavailable(std::string("pipe2: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears FD_CLOEXEC on the copy: the helper keeps exactly these ends.
  posix_spawn_file_actions_adddup2(&actions, pair[1], kHelperFd);
  posix_spawn_file_actions_adddup2(&actions, events[1], kEventFd);
  // Nothing else of the agent's: a client's connection accepted on another
  // thread meanwhile must never reach vendor code.
  posix_spawn_file_actions_addclosefrom_np(&actions, 5);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  // stderr stays the agent's: a module's complaints land in the agent's log.
  std::string programArg = program_.string();
  std::string modeArg = "--module";
  std::string moduleArg = modulePath_;
  std::array<char*, 4> argv{programArg.data(), modeArg.data(), moduleArg.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, programArg.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pair[1]);
  ::close(events[1]);
  if (rc != 0) {
    ::close(pair[0]);
    ::close(events[0]);
    throw HelperUnavailable("cannot start " + programArg + ": " + std::strerror(rc));
  }
  pid_ = pid;
  fd_ = pair[0];
  {
    const std::scoped_lock lock(eventsMutex_);
    events_ = std::make_shared<const SlotEvents>(events[0]);
  }
  ++generation_;
  agent::logInfo("started the PKCS#11 helper for " + modulePath_ + " (pid " + std::to_string(pid_) +
                 ")");
}

void HelperProcess::stopLocked(const std::string& why) {
  {
    const std::scoped_lock lock(eventsMutex_);
    events_.reset();  // closed once the watcher lets go of it too
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (pid_ > 0) {
    // Closing the socket ends a healthy helper; a hung one needs the signal.
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    if (!why.empty()) {
      agent::logWarning("stopped the PKCS#11 helper for " + modulePath_ + " (pid " +
                        std::to_string(pid_) + "): " + why);
    }
    pid_ = -1;
  }
}

json HelperProcess::call(json request, std::chrono::milliseconds timeout) {
  const std::scoped_lock lock(mutex_);
  return callLocked(std::move(request), timeout);
}

std::optional<json> HelperProcess::tryCall(json request, std::chrono::milliseconds timeout) {
  const std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) {
    return std::nullopt;
  }
  return callLocked(std::move(request), timeout);
}

json HelperProcess::callLocked(json request, std::chrono::milliseconds timeout) {
  if (pid_ < 0) {
    startLocked();
  }
  const std::int64_t id = nextId_++;
  request["id"] = id;
  std::string text = request.dump();
  wipeSecrets(request);
  const auto deadline = Clock::now() + timeout;
  try {
    writeFrame(fd_, text, LengthOrder::BigEndian, kMaxAgentMessage);
  } catch (const FramingError& e) {
    OPENSSL_cleanse(text.data(), text.size());
    stopLocked(std::string("cannot write to it: ") + e.what());
    throw HelperUnavailable("the PKCS#11 module " + modulePath_ + " stopped");
  }
  OPENSSL_cleanse(text.data(), text.size());

  std::array<std::uint8_t, 4> prefix{};
  if (!readWithin(fd_, reinterpret_cast<char*>(prefix.data()), prefix.size(), deadline)) {
    const bool late = Clock::now() >= deadline;
    stopLocked(late ? "no answer in " + std::to_string(timeout.count()) + " ms" : "it exited");
    throw HelperUnavailable("the PKCS#11 module " + modulePath_ +
                            (late ? " stopped answering" : " stopped (it may have crashed)"));
  }
  const std::uint32_t length = decodeLength(prefix.data(), LengthOrder::BigEndian);
  if (length > kMaxAgentMessage) {
    stopLocked("it sent a frame of " + std::to_string(length) + " bytes");
    throw HelperUnavailable("the PKCS#11 module " + modulePath_ + " misbehaved");
  }
  std::string body(length, '\0');
  if (!readWithin(fd_, body.data(), body.size(), deadline)) {
    stopLocked("its answer was cut short");
    throw HelperUnavailable("the PKCS#11 module " + modulePath_ + " stopped");
  }
  json reply;
  try {
    reply = agent::parseStrictJson(body);
  } catch (const agent::JsonParseError& e) {
    OPENSSL_cleanse(body.data(), body.size());
    stopLocked(std::string("it sent something that is not JSON: ") + e.what());
    throw HelperUnavailable("the PKCS#11 module " + modulePath_ + " misbehaved");
  }
  OPENSSL_cleanse(body.data(), body.size());  // an ECDH result is secret
  if (!reply.is_object() || reply.value("id", json()) != id) {
    stopLocked("it answered out of turn");
    throw HelperUnavailable("the PKCS#11 module " + modulePath_ + " misbehaved");
  }
  if (const auto error = reply.find("error"); error != reply.end()) {
    pkcs11::wire::rethrow(*error);
  }
  return std::move(reply["ok"]);
}

}  // namespace p2pcp::tokens
