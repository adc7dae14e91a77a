// SPDX-License-Identifier: Apache-2.0
#pragma once
// The host's relay between the browser (stdin/stdout, native-endian frames)
// and the agent (its Unix socket, big-endian frames).
//
// Two threads: this one reads the browser and writes the agent; a reader
// thread per agent connection writes replies and notifications back. When the
// agent goes away (restart, crash), requests still waiting get
// AGENT_UNAVAILABLE and the next request connects again, starting the agent
// if needed, so a browser session survives an agent restart.

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "p2pcp/client/agent_client.hpp"
#include "p2pcp/host/caller.hpp"

namespace p2pcp::host {

class Relay {
 public:
  Relay(int browserIn, int browserOut, client::ConnectOptions agentOptions);
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  Relay(Relay&&) = delete;
  Relay& operator=(Relay&&) = delete;
  ~Relay();

  // Relays for this calling extension until the browser closes stdin.
  // Returns the process exit code.
  int run(const BrowserCaller& caller);

  // Answers every request with EXTENSION_NOT_ALLOWED and `why`, and never
  // reaches the agent (a caller that is not allowed). Returns the exit code
  // once stdin closes.
  int refuseAll(const std::string& why);

  // Writes one message to the browser; a message over the browser's cap is
  // replaced by a MESSAGE_TOO_LARGE error for the same id. Thread-safe.
  void toBrowser(const nlohmann::json& message);

 private:
  void relayRequest(const nlohmann::json& request);
  void connectAgent();     // under agentMutex_
  void disconnectAgent();  // under agentMutex_; joins the reader
  void readAgent(int fd);  // the reader thread
  void failPending(const std::string& why);

  int browserIn_;
  int browserOut_;
  client::ConnectOptions agentOptions_;
  std::mutex outMutex_;
  std::mutex agentMutex_;
  std::optional<client::AgentClient> agent_;
  // The subscribe requests relayed, by sender ("" for the extension's own
  // pages), renewed on each new agent connection; under agentMutex_.
  std::map<std::string, nlohmann::json> subscriptions_;
  std::thread reader_;
  std::mutex pendingMutex_;
  std::set<std::string> pending_;  // ids (as JSON text) sent to the agent and not answered
};

}  // namespace p2pcp::host
