#pragma once
// Where the agent keeps things, the person's own settings (agent.json) and
// the administrator's policy (/etc/p2pcp-agent/policy.json).
//
// Both files are parsed strictly: an unknown field or a wrong type is an
// error naming the file and the field, because a silently ignored typo in a
// policy is a policy that does not apply.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace p2pcp::agent {

struct Paths {
  std::filesystem::path socket;      // $P2PCP_AGENT_SOCK, else $XDG_RUNTIME_DIR/p2pcp/agent.sock
  std::filesystem::path configDir;   // $XDG_CONFIG_HOME/p2pcp, else ~/.config/p2pcp
  std::filesystem::path policyFile;  // $P2PCP_POLICY, else /etc/p2pcp-agent/policy.json

  static Paths fromEnvironment();
  [[nodiscard]] std::filesystem::path configFile() const { return configDir / "agent.json"; }
  [[nodiscard]] std::filesystem::path consentFile() const { return configDir / "consents.json"; }
};

struct Policy {
  std::vector<std::string>
      allowedModules;  // realpaths; empty = any registered module or configured path
  std::vector<std::string> allowedOrigins;  // consent not asked
  std::vector<std::string> blockedOrigins;  // always refused
  bool onlyAllowedOrigins = false;          // refuse every origin not in allowedOrigins
  std::chrono::seconds pinCacheIdle{
      600};  // logged-in state and root secrets expire after this idle time
  std::chrono::seconds pinCacheMax{7200};  // ... and at the latest after this
  bool rawSigning = false;    // the `sign` method; off unless the administrator allows it
  bool keyGeneration = true;  // `generateKey` from the CLI
  // Browser extensions the native host serves: Chromium ids and Firefox add-on
  // ids. Empty: the ids built into the host (P2PCP_EXTENSION_IDS at build time).
  std::vector<std::string> allowedExtensions;

  // Missing file: defaults. Malformed file: throws std::runtime_error naming the problem.
  static Policy load(const std::filesystem::path& file);
};

struct Config {
  std::optional<std::string> module;  // explicit PKCS#11 module path ($P2PCP_PKCS11_MODULE wins)
  std::string pinentry = "pinentry";  // program ($P2PCP_PINENTRY wins)
  std::optional<std::string> defaultKey;  // key URI used when a request names none

  static Config load(const std::filesystem::path& file);
};

// realpath(3) of a module path; throws std::runtime_error when it does not exist.
std::string resolveModulePath(const std::string& path);

}  // namespace p2pcp::agent
