// SPDX-License-Identifier: Apache-2.0
#pragma once
// Where the agent keeps things, the person's own settings (agent.json) and
// the administrator's policy (/etc/p2pcp-agent/policy.json).
//
// Both files are parsed strictly (config_file.hpp): an unknown field, a wrong
// type, a duplicate key or a malformed entry is an error naming the file, the
// field and the entry, because a silently ignored typo in a policy is a policy
// that does not apply. Only a path where nothing exists means "defaults".

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "p2pcp/agent/origin.hpp"

namespace p2pcp::agent {

// The administrator's policy. A release build reads it from here only; a test
// build (test_hooks.hpp) lets $P2PCP_POLICY name another file.
inline constexpr const char* kSystemPolicyFile = "/etc/p2pcp-agent/policy.json";

struct Paths {
  std::filesystem::path socket;      // $P2PCP_AGENT_SOCK, else $XDG_RUNTIME_DIR/p2pcp/agent.sock
  std::filesystem::path configDir;   // $XDG_CONFIG_HOME/p2pcp, else ~/.config/p2pcp
  std::filesystem::path policyFile;  // kSystemPolicyFile ($P2PCP_POLICY in test builds only)

  static Paths fromEnvironment();
  [[nodiscard]] std::filesystem::path configFile() const { return configDir / "agent.json"; }
  [[nodiscard]] std::filesystem::path consentFile() const { return configDir / "consents.json"; }
  // The web origins paired with the WebSocket front door (pairing_store.hpp).
  [[nodiscard]] std::filesystem::path pairingFile() const { return configDir / "pairings.json"; }
  // The default key chosen with setDefaultKey (default_key_store.hpp).
  [[nodiscard]] std::filesystem::path defaultKeyFile() const {
    return configDir / "default-key.json";
  }
};

// The policy's "origins" object. Every entry was checked to be a canonical web
// origin or the one wildcard form (OriginPattern); block wins over the others.
struct OriginRules {
  std::vector<OriginPattern> allow;       // site access without asking the person
  std::vector<OriginPattern> fullAccess;  // full access without asking the person
  std::vector<OriginPattern> block;       // always refused
  bool onlyAllowed = false;               // refuse every origin in neither allow nor fullAccess
  // Groups of exact canonical origins that share one site space; each group has
  // at least 2 distinct origins, and an origin is in at most one group.
  std::vector<std::vector<std::string>> sameSpace;
};

struct Policy {
  std::vector<std::string>
      allowedModules;  // realpaths; empty = any registered module or configured path
  OriginRules origins;
  std::chrono::seconds pinCacheIdle{
      600};  // logged-in state and root secrets expire after this idle time
  std::chrono::seconds pinCacheMax{7200};  // ... and at the latest after this
  bool rawSigning = false;    // the `sign` method; off unless the administrator allows it
  bool keyGeneration = true;  // `generateKey` from the CLI
  // Browser extensions the native host serves: Chromium ids and Firefox add-on
  // ids. Empty: the ids built into the host (P2PCP_EXTENSION_IDS at build time).
  std::vector<std::string> allowedExtensions;
  // The loopback WebSocket front door (agent/ws): false forbids it whatever
  // agent.json says; true (the default) leaves it to the person's agent.json;
  // {"port": N} turns it on at N (webSocketPort), whatever port agent.json
  // names; {} turns it on at kDefaultWebSocketPort.
  bool webSocket = true;
  std::optional<std::uint16_t> webSocketPort;

  // Nothing at the path (lstat: ENOENT): defaults. Anything else that is not a
  // well-formed policy (unreadable, a dangling symlink, a directory, a malformed
  // entry): throws std::runtime_error naming the file, the field and the problem.
  static Policy load(const std::filesystem::path& file);
  // The top-level fields the file sets (every other value is the built-in
  // default); empty when nothing is at the path. Throws like load().
  static std::vector<std::string> fieldsIn(const std::filesystem::path& file);
};

// Checks a policy file before it is rolled out (`p2pcp-agent --check-policy`,
// `p2pcp doctor`): nullopt when it is well-formed, else the problem, naming
// the file, the field and the value. Unlike Policy::load, a path where nothing
// exists is a problem here: checking a file that is not there is a mistake.
std::optional<std::string> validatePolicyFile(const std::filesystem::path& file);

// The front door's port when "webSocket" names none (agent.json or policy):
// one fixed, documented port lets a page connect without asking the person
// for a number (clients/p2pcp-ws.js has the same default). Below Linux's
// ephemeral range (32768-60999), so an outgoing connection does not hold it,
// and not in /etc/services.
inline constexpr std::uint16_t kDefaultWebSocketPort = 24872;

struct Config {
  std::optional<std::string> module;  // explicit PKCS#11 module path ($P2PCP_PKCS11_MODULE wins)
  std::string pinentry = "pinentry";  // program ($P2PCP_PINENTRY wins)
  std::optional<std::string> defaultKey;  // key URI used when a request names none
  // "webSocket": {"port": N}: the loopback WebSocket front door listens on N
  // (127.0.0.1 and ::1 only); "webSocket": {} on kDefaultWebSocketPort.
  // Absent: no front door.
  std::optional<std::uint16_t> webSocketPort;

  // The same file rules as Policy::load.
  static Config load(const std::filesystem::path& file);
};

// realpath(3) of a module path; throws std::runtime_error when it does not exist.
std::string resolveModulePath(const std::string& path);

}  // namespace p2pcp::agent
