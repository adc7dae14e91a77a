// SPDX-License-Identifier: Apache-2.0
// `p2pcp policy`: the administrator's policy in effect and where each value
// comes from. It reads the file the agent reads (the system path; in test
// builds $P2PCP_POLICY) with the agent's own parser, so what it shows is what
// the agent applies: a running agent reloads the file when it changes.
#include <iostream>

#include "cli.hpp"
#include "p2pcp/agent/config.hpp"

namespace p2pcp::cli {

using nlohmann::json;

namespace {

json patterns(const std::vector<agent::OriginPattern>& list) {
  json out = json::array();
  for (const auto& pattern : list) {
    out.push_back(pattern.text());
  }
  return out;
}

// Every policy field with its value in effect.
json values(const agent::Policy& p) {
  return {{"allowedModules", p.allowedModules},
          {"origins",
           {{"allow", patterns(p.origins.allow)},
            {"fullAccess", patterns(p.origins.fullAccess)},
            {"block", patterns(p.origins.block)},
            {"onlyAllowed", p.origins.onlyAllowed},
            {"sameSpace", p.origins.sameSpace}}},
          {"pinCacheSeconds", p.pinCacheIdle.count()},
          {"pinCacheMaxSeconds", p.pinCacheMax.count()},
          {"rawSigning", p.rawSigning},
          {"keyGeneration", p.keyGeneration},
          {"webSocket", p.webSocketPort ? json{{"port", *p.webSocketPort}} : json(p.webSocket)},
          {"allowedExtensions", p.allowedExtensions}};
}

std::string shown(const std::string& field, const json& value) {
  if (value.is_array() && value.empty()) {
    if (field == "allowedModules") {
      return "[] (any registered module or configured path)";
    }
    if (field == "allowedExtensions") {
      return "[] (the ids built into the native host)";
    }
  }
  return value.dump();
}

}  // namespace

int policyShow(const Options& o) {
  const auto file = agent::Paths::fromEnvironment().policyFile;
  agent::Policy policy;
  std::vector<std::string> fromFile;
  try {
    policy = agent::Policy::load(file);
    fromFile = agent::Policy::fieldsIn(file);
  } catch (const std::exception& e) {
    if (o.json) {
      printJson({{"file", file.string()}, {"valid", false}, {"error", e.what()}});
    } else {
      std::cerr << "p2pcp: the policy is malformed, and the agent refuses policy-governed "
                   "requests until it is fixed:\n  "
                << e.what() << '\n';
    }
    return kExitAgentError;
  }
  std::error_code ec;
  const bool exists = std::filesystem::exists(std::filesystem::symlink_status(file, ec));
  json out = {
      {"file", file.string()}, {"exists", exists}, {"valid", true}, {"values", json::object()}};
  std::string text = "policy file: " + file.string() +
                     (exists ? "" : " (not present: every value is the built-in default)") + "\n";
  const json inEffect = values(policy);
  for (const auto& [field, value] : inEffect.items()) {
    const bool set = std::find(fromFile.begin(), fromFile.end(), field) != fromFile.end();
    const std::string source = set ? file.string() : "built-in default";
    out["values"][field] = {{"value", value}, {"source", set ? "file" : "default"}};
    text += field + " = " + shown(field, value) + "\n    from " + source + "\n";
  }
  if (o.json) {
    printJson(out);
  } else {
    std::cout << text;
  }
  return kExitOk;
}

}  // namespace p2pcp::cli
