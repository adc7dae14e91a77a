// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/client/agent_client.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/private_directory.hpp"
#include "p2pcp/common/framing.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace p2pcp::client {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A socket descriptor, closed unless it is handed over.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.release()) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Connects to the socket; on failure returns OwnedFd(-1) and sets `error`.
OwnedFd connectTo(const fs::path& socketPath, int& error) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socketPath.string();
  if (path.size() >= sizeof address.sun_path) {
    throw AgentUnavailable("socket path too long: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  OwnedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    throw AgentUnavailable(std::string("socket: ") + std::strerror(errno));
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    error = errno;
    return OwnedFd(-1);
  }
  return fd;
}

// Whether the socket's directory exists. Throws AgentUnavailable when it exists
// but someone other than us could have put a socket in it (see
// verifyPrivateDirectory), or when it cannot be inspected.
bool trustedDirectoryExists(const fs::path& dir) {
  try {
    agent::verifyPrivateDirectory(dir);
    return true;
  } catch (const agent::UntrustedDirectory& e) {
    throw AgentUnavailable(e.what());
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::no_such_file_or_directory) {
      return false;
    }
    throw AgentUnavailable(e.what());
  }
}

// Makes the missing socket directory for an agent we are about to start. One
// that appeared meanwhile is verified, never repaired.
void makeTrustedDirectory(const fs::path& dir) {
  try {
    agent::createPrivateDirectory(dir);
  } catch (const std::runtime_error& e) {  // UntrustedDirectory, std::system_error
    throw AgentUnavailable(e.what());
  }
}

// Whoever listens on the socket gets every request we send (plaintexts,
// payloads): it must run as us. SO_PEERCRED gives the credentials the listener
// had when it called listen(). Checked before a byte is written.
void verifyPeer(const OwnedFd& fd, const fs::path& socketPath) {
  ucred peer{};
  socklen_t size = sizeof peer;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) {
    throw AgentUnavailable("cannot check who serves " + socketPath.string() + ": " +
                           std::strerror(errno));
  }
  if (size != sizeof peer) {
    throw AgentUnavailable("cannot check who serves " + socketPath.string() +
                           ": no peer credentials");
  }
  if (peer.uid != ::geteuid()) {
    throw AgentUnavailable("refusing the agent at " + socketPath.string() +
                           ": it is served by uid " + std::to_string(peer.uid) + " (pid " +
                           std::to_string(peer.pid) + "), not by you (uid " +
                           std::to_string(::geteuid()) + ")");
  }
}

fs::path findAgentProgram() {
  std::array<char, PATH_MAX> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n > 0) {
    fs::path sibling =
        fs::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path() /
        "p2pcp-agent";
    if (::access(sibling.c_str(), X_OK) == 0) {
      return sibling;
    }
  }
  return "p2pcp-agent";  // posix_spawnp searches $PATH
}

// An agent the CLI starts ends after this long with nothing to do (no client,
// no request, no login; docs/configuration.md, "Lifetime"), so that a changed
// installation or configuration reaches the next one.
constexpr const char* kAutostartIdleSeconds = "600";

// The agent's last log line: why it did not start (a malformed policy names
// the field), so the person sees the cause and not only where to look.
std::string lastLogLine(const fs::path& logPath) {
  std::ifstream log(logPath);
  std::string line;
  std::string last;
  while (std::getline(log, line)) {
    if (!line.empty()) {
      last = line;
    }
  }
  return last;
}

// Starts `p2pcp-agent --daemon` and waits until it reports that it listens (or that
// another agent does). Safe when several clients do this at once: the agent's lock
// file lets exactly one of them serve.
void startAgent(const fs::path& program, const fs::path& socketPath) {
  const fs::path logPath = socketPath.parent_path() / "agent.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, logPath.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
  // posix_spawn takes char* arguments: each one its own mutable string.
  std::string programArg = program.string();
  std::string daemonArg = "--daemon";
  std::string socketFlag = "--socket";
  std::string socketArg = socketPath.string();
  std::string idleFlag = "--exit-when-idle";
  std::string idleArg = kAutostartIdleSeconds;
  std::array<char*, 7> argv{
      programArg.data(), daemonArg.data(), socketFlag.data(), socketArg.data(), idleFlag.data(),
      idleArg.data(),    nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, programArg.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw AgentUnavailable("cannot start " + programArg + ": " + std::strerror(rc));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string why = lastLogLine(logPath);
    throw AgentUnavailable("the agent did not start" + (why.empty() ? "" : ": " + why) + " (see " +
                           logPath.string() + ")");
  }
}

}  // namespace

fs::path defaultSocketPath() {
  return agent::Paths::fromEnvironment().socket;
}

AgentClient::AgentClient(const ConnectOptions& options) {
  const fs::path socketPath = options.socket.empty() ? defaultSocketPath() : options.socket;
  const fs::path dir = socketPath.has_parent_path() ? socketPath.parent_path() : fs::path(".");
  // The directory first: in one that is not ours alone (e.g. /tmp/p2pcp-<uid>
  // made by another user first), we do not even connect.
  int connectError = ENOENT;
  if (trustedDirectoryExists(dir)) {
    OwnedFd fd = connectTo(socketPath, connectError);
    if (fd.get() >= 0) {
      // A socket served by someone else is refused, not worked around by
      // starting an agent: in a directory that is ours alone it should not
      // exist, and the person has to look at it.
      verifyPeer(fd, socketPath);
      fd_ = fd.release();
      return;
    }
  }
  const char* noAutostart = std::getenv("P2PCP_NO_AUTOSTART");  // NOLINT(concurrency-mt-unsafe)
  const bool mayStart = options.autostart && (noAutostart == nullptr || *noAutostart == '\0');
  if (!mayStart || (connectError != ENOENT && connectError != ECONNREFUSED)) {
    throw AgentUnavailable("cannot connect to the agent at " + socketPath.string() + ": " +
                           std::strerror(connectError));
  }
  makeTrustedDirectory(dir);
  startAgent(options.agentProgram.empty() ? findAgentProgram() : options.agentProgram, socketPath);
  OwnedFd fd = connectTo(socketPath, connectError);
  if (fd.get() < 0) {
    throw AgentUnavailable("the agent started but " + socketPath.string() +
                           " refuses connections: " + std::strerror(connectError));
  }
  verifyPeer(fd, socketPath);
  fd_ = fd.release();
}

AgentClient::AgentClient(AgentClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), nextId_(other.nextId_) {}

AgentClient::~AgentClient() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void AgentClient::send(const std::string& message) const {
  writeFrame(fd_, message, LengthOrder::BigEndian, kMaxAgentMessage);
}

std::optional<std::string> AgentClient::receive() const {
  return readFrame(fd_, LengthOrder::BigEndian, kMaxAgentMessage);
}

json AgentClient::call(const std::string& method, const json& params, const json& meta) {
  const long long id = nextId_++;
  json request = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  for (const auto& [key, value] : meta.items()) {
    request[key] = value;
  }
  send(request.dump());
  while (true) {
    const auto text = receive();
    if (!text) {
      throw AgentUnavailable("the agent closed the connection");
    }
    json reply = json::parse(*text, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
      throw AgentUnavailable("the agent sent an invalid reply");
    }
    if (!reply.contains("id")) {
      continue;  // a notification; callers that want them use receive()
    }
    if (reply["id"] != id && !reply["id"].is_null()) {
      continue;
    }
    if (reply.contains("error")) {
      const json& error = reply["error"];
      std::string code = "INTERNAL_ERROR";
      if (error.contains("data") && error["data"].is_object() && error["data"].contains("error")) {
        code = error["data"]["error"].get<std::string>();
      }
      throw AgentCallError(code, error.value("message", "error"), error);
    }
    return reply["result"];
  }
}

}  // namespace p2pcp::client
