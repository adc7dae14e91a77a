#include "p2pcp/agent/config.hpp"

#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace p2pcp::agent {

namespace fs = std::filesystem;
using nlohmann::json;

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

// Reads a JSON object from a file; nullopt when the file does not exist.
std::optional<json> readJsonObject(const fs::path& file) {
  std::ifstream in(file);
  if (!in) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    throw std::runtime_error(file.string() + ": cannot read: " + std::strerror(errno));
  }
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    throw std::runtime_error(file.string() + ": not valid JSON");
  }
  if (!doc.is_object()) {
    throw std::runtime_error(file.string() + ": must hold a JSON object");
  }
  return doc;
}

void rejectUnknownFields(const json& doc, const std::set<std::string>& known,
                         const fs::path& file) {
  for (const auto& [key, value] : doc.items()) {
    if (!known.contains(key)) {
      throw std::runtime_error(file.string() + ": unknown field \"" + key + "\"");
    }
  }
}

template <typename T>
T field(const json& doc, const char* name, const fs::path& file) {
  try {
    return doc.at(name).get<T>();
  } catch (const json::exception&) {
    throw std::runtime_error(file.string() + ": field \"" + name + "\" has the wrong type");
  }
}

std::chrono::seconds seconds(const json& doc, const char* name, const fs::path& file) {
  const auto value = field<long long>(doc, name, file);
  if (value < 0 || value > 7LL * 24 * 3600) {
    throw std::runtime_error(file.string() + ": \"" + name + "\" must be 0 to 604800 seconds");
  }
  return std::chrono::seconds(value);
}

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
  paths.policyFile = env("P2PCP_POLICY").value_or("/etc/p2pcp-agent/policy.json");
  return paths;
}

Policy Policy::load(const fs::path& file) {
  Policy policy;
  const auto doc = readJsonObject(file);
  if (!doc) {
    return policy;
  }
  rejectUnknownFields(*doc,
                      {"allowedModules", "origins", "pinCacheSeconds", "pinCacheMaxSeconds",
                       "rawSigning", "keyGeneration", "allowedExtensions", "$comment"},
                      file);
  if (doc->contains("allowedModules")) {
    for (const auto& path : field<std::vector<std::string>>(*doc, "allowedModules", file)) {
      // A listed module that is not installed is not an error: policies are shared
      // across machines. It simply cannot match anything.
      char resolved[PATH_MAX];
      policy.allowedModules.emplace_back(realpath(path.c_str(), resolved) != nullptr ? resolved
                                                                                     : path);
    }
  }
  if (doc->contains("origins")) {
    const json& origins = doc->at("origins");
    if (!origins.is_object()) {
      throw std::runtime_error(file.string() + ": \"origins\" must be an object");
    }
    rejectUnknownFields(origins, {"allow", "block", "onlyAllowed"}, file);
    if (origins.contains("allow")) {
      policy.allowedOrigins = field<std::vector<std::string>>(origins, "allow", file);
    }
    if (origins.contains("block")) {
      policy.blockedOrigins = field<std::vector<std::string>>(origins, "block", file);
    }
    if (origins.contains("onlyAllowed")) {
      policy.onlyAllowedOrigins = field<bool>(origins, "onlyAllowed", file);
    }
  }
  if (doc->contains("pinCacheSeconds")) {
    policy.pinCacheIdle = seconds(*doc, "pinCacheSeconds", file);
  }
  if (doc->contains("pinCacheMaxSeconds")) {
    policy.pinCacheMax = seconds(*doc, "pinCacheMaxSeconds", file);
  }
  if (doc->contains("rawSigning")) {
    policy.rawSigning = field<bool>(*doc, "rawSigning", file);
  }
  if (doc->contains("keyGeneration")) {
    policy.keyGeneration = field<bool>(*doc, "keyGeneration", file);
  }
  if (doc->contains("allowedExtensions")) {
    policy.allowedExtensions = field<std::vector<std::string>>(*doc, "allowedExtensions", file);
  }
  return policy;
}

Config Config::load(const fs::path& file) {
  Config config;
  if (const auto doc = readJsonObject(file)) {
    rejectUnknownFields(*doc, {"module", "pinentry", "defaultKey", "$comment"}, file);
    if (doc->contains("module")) {
      config.module = field<std::string>(*doc, "module", file);
    }
    if (doc->contains("pinentry")) {
      config.pinentry = field<std::string>(*doc, "pinentry", file);
    }
    if (doc->contains("defaultKey")) {
      config.defaultKey = field<std::string>(*doc, "defaultKey", file);
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
