// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/config.hpp"

#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "config_fields.hpp"
#include "p2pcp/agent/config_file.hpp"
#include "p2pcp/agent/extension_id.hpp"
#include "p2pcp/agent/json_parse.hpp"
#include "p2pcp/agent/test_hooks.hpp"

namespace p2pcp::agent {

namespace fs = std::filesystem;
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}

fs::path homeDir() {
  if (auto home = env("HOME")) {
    return *home;
  }
  const passwd* pw = getpwuid(getuid());  // NOLINT(concurrency-mt-unsafe): start-up only
  if (pw == nullptr || pw->pw_dir == nullptr) {
    throw std::runtime_error("cannot determine the home directory");
  }
  return pw->pw_dir;
}

// Cache lifetimes longer than a week are a typo, not a policy.
constexpr long long kMaxCacheSeconds = 7LL * 24 * 3600;

}  // namespace

Paths Paths::fromEnvironment() {
  Paths paths;
  if (auto sock = env("P2PCP_AGENT_SOCK")) {
    paths.socket = *sock;
  } else if (auto runtime = env("XDG_RUNTIME_DIR")) {
    paths.socket = fs::path(*runtime) / "p2pcp" / "agent.sock";
  } else {
    // No per-user runtime directory (a bare ssh session, a container): fall back to
    // a directory under /tmp named by uid, created 0700 and ownership-checked later.
    paths.socket = fs::path("/tmp") / ("p2pcp-" + std::to_string(getuid())) / "agent.sock";
  }
  if (auto config = env("XDG_CONFIG_HOME")) {
    paths.configDir = fs::path(*config) / "p2pcp";
  } else {
    paths.configDir = homeDir() / ".config" / "p2pcp";
  }
  // Only a test build lets the environment name another policy file: in a
  // release, a person (or a browser's environment) cannot get around it.
  paths.policyFile = testHookVariable("P2PCP_POLICY").value_or(kSystemPolicyFile);
  return paths;
}

Policy Policy::load(const fs::path& file) {
  Policy policy;
  const auto doc = readConfigFile(file);
  if (!doc) {
    return policy;
  }
  const FieldReader fields(*doc, file, "");
  fields.allowOnly({"allowedModules", "origins", "pinCacheSeconds", "pinCacheMaxSeconds",
                    "rawSigning", "keyGeneration", "allowedExtensions", "webSocket", "$comment"});
  if (fields.has("allowedModules")) {
    const auto paths = fields.strings("allowedModules");
    for (std::size_t i = 0; i < paths.size(); ++i) {
      if (!paths[i].starts_with('/')) {
        fields.fail("allowedModules[" + std::to_string(i) + "] " + quotedForMessage(paths[i], 200) +
                    " is not an absolute path");
      }
      // A listed module that is not installed is not an error: policies are shared
      // across machines. It simply cannot match anything.
      std::array<char, PATH_MAX> resolved{};
      policy.allowedModules.emplace_back(
          realpath(paths[i].c_str(), resolved.data()) != nullptr ? resolved.data() : paths[i]);
    }
  }
  if (fields.has("origins")) {
    policy.origins = readOriginRules(fields.object("origins"));
  }
  if (fields.has("pinCacheSeconds")) {
    policy.pinCacheIdle = fields.seconds("pinCacheSeconds", kMaxCacheSeconds);
  }
  if (fields.has("pinCacheMaxSeconds")) {
    policy.pinCacheMax = fields.seconds("pinCacheMaxSeconds", kMaxCacheSeconds);
  }
  if (fields.has("rawSigning")) {
    policy.rawSigning = fields.boolean("rawSigning");
  }
  if (fields.has("keyGeneration")) {
    policy.keyGeneration = fields.boolean("keyGeneration");
  }
  if (fields.has("webSocket")) {
    if (doc->at("webSocket").is_object()) {
      // The administrator turns the front door on at a port for every user of
      // the machine (docs/enterprise.md: only one user's agent can take it).
      const FieldReader webSocket = fields.object("webSocket");
      webSocket.allowOnly({"port", "$comment"});
      policy.webSocketPort = webSocket.has("port") ? webSocket.port("port") : kDefaultWebSocketPort;
    } else {
      policy.webSocket = fields.boolean("webSocket");
    }
  }
  if (fields.has("allowedExtensions")) {
    policy.allowedExtensions = fields.strings("allowedExtensions");
    for (std::size_t i = 0; i < policy.allowedExtensions.size(); ++i) {
      const std::string& id = policy.allowedExtensions[i];
      if (!isChromiumExtensionId(id) && !isFirefoxAddOnId(id)) {
        fields.fail("allowedExtensions[" + std::to_string(i) + "] " + quotedForMessage(id, 200) +
                    " is neither a Chromium extension id (32 letters a-p) nor a Firefox add-on "
                    "id (name@domain or {GUID})");
      }
    }
  }
  return policy;
}

std::vector<std::string> Policy::fieldsIn(const fs::path& file) {
  std::vector<std::string> present;
  if (const auto doc = readConfigFile(file)) {
    for (const auto& [key, value] : doc->items()) {
      if (key != "$comment") {
        present.push_back(key);
      }
    }
  }
  return present;
}

std::optional<std::string> validatePolicyFile(const fs::path& file) {
  try {
    std::error_code ec;
    const auto status = fs::symlink_status(file, ec);
    if (!fs::exists(status)) {
      return file.string() + ": does not exist";
    }
    (void)Policy::load(file);
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

Config Config::load(const fs::path& file) {
  Config config;
  if (const auto doc = readConfigFile(file)) {
    const FieldReader fields(*doc, file, "");
    fields.allowOnly({"module", "pinentry", "defaultKey", "webSocket", "$comment"});
    if (fields.has("module")) {
      config.module = fields.string("module");
    }
    if (fields.has("pinentry")) {
      config.pinentry = fields.string("pinentry");
    }
    if (fields.has("defaultKey")) {
      config.defaultKey = fields.string("defaultKey");
    }
    if (fields.has("webSocket")) {
      const FieldReader webSocket = fields.object("webSocket");
      webSocket.allowOnly({"port", "$comment"});
      config.webSocketPort = webSocket.has("port") ? webSocket.port("port") : kDefaultWebSocketPort;
    }
  }
  if (auto module = env("P2PCP_PKCS11_MODULE")) {
    config.module = *module;
  }
  if (auto pinentry = env("P2PCP_PINENTRY")) {
    config.pinentry = *pinentry;
  }
  return config;
}

std::string resolveModulePath(const std::string& path) {
  std::array<char, PATH_MAX> resolved{};
  if (realpath(path.c_str(), resolved.data()) == nullptr) {
    throw std::runtime_error("PKCS#11 module " + path + ": " + std::strerror(errno));
  }
  return resolved.data();
}

}  // namespace p2pcp::agent
