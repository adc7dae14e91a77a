// SPDX-License-Identifier: Apache-2.0
#pragma once
// A blocking client of the agent's socket, used by the CLI and the
// native-messaging host. Starts the agent when it is not running, as gpg's
// tools start gpg-agent.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace p2pcp::client {

// The agent answered with a JSON-RPC error.
class AgentCallError : public std::runtime_error {
 public:
  AgentCallError(std::string code, const std::string& message, nlohmann::json error)
      : std::runtime_error(message), code_(std::move(code)), error_(std::move(error)) {}
  // The typed code, e.g. "PIN_INCORRECT".
  [[nodiscard]] const std::string& code() const noexcept { return code_; }
  // The whole JSON-RPC error object.
  [[nodiscard]] const nlohmann::json& error() const noexcept { return error_; }

 private:
  std::string code_;
  nlohmann::json error_;
};

// The agent could not be reached or started.
class AgentUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ConnectOptions {
  std::filesystem::path socket;        // empty: Paths::fromEnvironment()
  bool autostart = true;               // false also when $P2PCP_NO_AUTOSTART is set
  std::filesystem::path agentProgram;  // empty: p2pcp-agent beside this program, else $PATH
};

class AgentClient {
 public:
  explicit AgentClient(const ConnectOptions& options = {});
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;
  AgentClient(AgentClient&& other) noexcept;
  AgentClient& operator=(AgentClient&&) = delete;
  ~AgentClient();

  // Sends one request and waits for its reply; returns `result` or throws AgentCallError.
  // `meta` members (tty, display, origin) are added to the request object.
  nlohmann::json call(const std::string& method,
                      const nlohmann::json& params = nlohmann::json::object(),
                      const nlohmann::json& meta = nlohmann::json::object());

  // Raw access for relays: send a whole message, read the next message (nullopt at EOF).
  void send(const std::string& message) const;
  [[nodiscard]] std::optional<std::string> receive() const;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  long long nextId_ = 1;
};

// The default socket path (same rules as the agent).
std::filesystem::path defaultSocketPath();

}  // namespace p2pcp::client
