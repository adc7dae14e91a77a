// SPDX-License-Identifier: Apache-2.0
#pragma once
// A real p2pcp-agent process on a fresh SoftHSM2 token that holds the fixed
// test keys, with the scripted pinentry. Stopped by its pid when the harness
// goes out of scope.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "p2pcp/client/agent_client.hpp"

namespace p2pcp::testing {

// This process's environment with `overrides` set, as "NAME=value" strings for
// posix_spawn.
std::vector<std::string> environmentWith(const std::map<std::string, std::string>& overrides);

struct AgentSetup {
  std::string pin = "4321-test-pin";  // the token's PIN
  std::string pinentryPins;           // what pinentry answers (comma list); empty: the PIN
  std::string confirm = "yes";        // what pinentry answers to consent prompts
  bool cancelPin = false;
  int pinentryDelayMs = 0;      // how long pinentry takes to answer
  std::string pinentryProgram;  // empty: the scripted pinentry
  std::optional<nlohmann::json> policy;
  // Instead of a policy file: policy.json is a symbolic link to this path.
  std::optional<std::filesystem::path> policyLink;
  bool importFixtures = true;
  // The PKCS#11 module the agent loads; empty: SoftHSM2 with the harness's token.
  std::string module;
  // No module named at all: the agent serves p11-kit's registered modules, as
  // on a person's desktop (SoftHSM2's among them, with the harness's token).
  bool registeredModules = false;
  // Added to (or overriding) the agent's environment, and so to environment().
  std::map<std::string, std::string> extraEnv;
  // Put before the agent's command line: e.g. nsenter into the mount namespace
  // of a private pcscd (tests/card). The agent's pid stays that of the launcher,
  // so the launcher must exec the agent (setpriv and nsenter do).
  std::vector<std::string> launcher;
  // The agent program to run; empty: the one this build made.
  std::string agentProgram;
};

// What a program run to completion printed (stdout and stderr together).
struct ProgramOutput {
  int exitCode = -1;
  std::string output;
};

class AgentHarness {
 public:
  // Skips (via the returned reason) when SoftHSM2 is missing.
  static std::optional<std::string> missingPrerequisite();

  explicit AgentHarness(AgentSetup setup = {});
  AgentHarness(const AgentHarness&) = delete;
  AgentHarness& operator=(const AgentHarness&) = delete;
  AgentHarness(AgentHarness&&) = delete;
  AgentHarness& operator=(AgentHarness&&) = delete;
  ~AgentHarness();

  // Starts (or restarts with a changed setup) the agent; the token is kept.
  void start();
  void stop();
  void restart(const AgentSetup& setup);

  [[nodiscard]] client::AgentClient connect() const;
  [[nodiscard]] const std::filesystem::path& socket() const noexcept { return socket_; }
  [[nodiscard]] const std::filesystem::path& home() const noexcept { return home_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] std::string agentLog() const;
  // The JSON lines the scripted pinentry logged (commands received; never the PIN).
  [[nodiscard]] std::vector<nlohmann::json> pinentryLog() const;
  [[nodiscard]] int countPinentry(const std::string& command) const;
  // URI of the fixture key with this file name (rsa2048, p256, p384, ed25519).
  [[nodiscard]] std::string keyUri(const std::string& fixture) const;
  // Its fingerprint: how a web page below full access names a key.
  [[nodiscard]] std::string keyFingerprint(const std::string& fixture) const;
  // Waits up to `timeout` for the agent to exit by itself; its exit code, or
  // nullopt while it still runs.
  std::optional<int> waitForExit(std::chrono::milliseconds timeout);
  // Runs a program to completion with the agent's environment plus `extraEnv`.
  [[nodiscard]] ProgramOutput run(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& extraEnv = {}) const;
  // Runs p2pcp-agent with this environment to completion, for start-up error tests.
  [[nodiscard]] int runAgentOnce(const std::vector<std::string>& extraArgs) const;
  // The agent's environment (token, socket, pinentry, policy), for other programs
  // that must reach the same agent (the CLI, the native host).
  [[nodiscard]] std::map<std::string, std::string> environment() const;

 private:
  void writePolicy() const;

  AgentSetup setup_;
  std::filesystem::path home_;
  std::filesystem::path socket_;
  pid_t pid_ = -1;
};

}  // namespace p2pcp::testing
