// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor: the PKCS#11 modules the agent serves, why one failed, and the
// tokens present, from the agent's own status.
#include <fstream>
#include <system_error>

#include "doctor.hpp"

namespace p2pcp::cli::doctor {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// p11-kit's module file for a registered module: the module's name is the
// file's name (docs/smartcard.md says how to keep a module out of the agent).
std::optional<fs::path> moduleFile(const std::string& name) {
  std::vector<fs::path> dirs = {"/etc/pkcs11/modules", "/usr/share/p11-kit/modules"};
  if (const auto home = environment("HOME")) {
    dirs.insert(dirs.begin(), fs::path(*home) / ".config/pkcs11/modules");
  }
  for (const auto& dir : dirs) {
    std::error_code ignored;
    if (fs::exists(dir / (name + ".module"), ignored)) {
      return dir / (name + ".module");
    }
  }
  return std::nullopt;
}

// The helper says why it could not load a module on its stderr, which is the
// agent's log when p2pcp started the agent: its last word on this module.
std::string helperComplaint(const Context& context, const std::string& modulePath) {
  std::ifstream log(context.paths.socket.parent_path() / "agent.log");
  std::string last;
  for (std::string line; std::getline(log, line);) {
    if (line.starts_with("p2pcp-pkcs11-helper: ") && line.find(modulePath) != std::string::npos) {
      last = line.substr(std::string_view("p2pcp-pkcs11-helper: ").size());
    }
  }
  return last;
}

// How to stop serving a module that does not work.
std::string moduleFix(const Context& context, const json& module) {
  if (environment("P2PCP_PKCS11_MODULE")) {
    return "unset P2PCP_PKCS11_MODULE";
  }
  if (context.config && context.config->module) {
    return editCommand(context.paths.configFile());
  }
  if (const auto file = moduleFile(module.value("name", ""))) {
    // Add "disable-in: p2pcp-agent" there (or reinstall the module's package).
    return file->string().starts_with("/etc") || file->string().starts_with("/usr")
               ? editSystemFileCommand(*file)
               : editCommand(*file);
  }
  return "p11-kit list-modules";
}

Check modulesCheck(const Context& context) {
  Check check{"modules", Status::Ok, "", "", json::object()};
  const json modules = context.status->value("modules", json::array());
  check.details["modules"] = modules;
  std::string served;
  std::string failed;
  const json* firstFailed = nullptr;
  for (const auto& module : modules) {
    const std::string name = module.value("name", "") + " (" + module.value("path", "") + ")";
    if (module.value("available", true)) {
      served += (served.empty() ? "" : ", ") + name;
    } else {
      failed += (failed.empty() ? "" : "; ") + name + ": " +
                module.value("error", std::string("its helper cannot start"));
      if (const auto why = helperComplaint(context, module.value("path", "")); !why.empty()) {
        failed += " (the helper said: " + why + ")";
      }
      firstFailed = firstFailed != nullptr ? firstFailed : &module;
    }
  }
  if (modules.empty()) {
    check.status = Status::Fail;
    check.finding =
        "the agent serves no PKCS#11 module: p11-kit registers none for p2pcp-agent, "
        "or the policy's allowedModules lists none of them";
    check.fix = asRoot("apt-get install opensc-pkcs11");
  } else if (firstFailed != nullptr) {
    // One broken module among working ones is a warning; no working module at all fails.
    check.status = served.empty() ? Status::Fail : Status::Warn;
    check.finding = "failed to load: " + failed +
                    (served.empty() ? "; no module works" : "; serving " + served);
    check.fix = moduleFix(context, *firstFailed);
  } else {
    check.finding = "serving " + served;
  }
  return check;
}

Check tokensCheck(const Context& context) {
  Check check{"tokens", Status::Ok, "", "", json::object()};
  const json tokens = context.status->value("tokens", json::array());
  check.details["tokens"] = tokens;
  if (tokens.empty()) {
    check.status = Status::Warn;
    check.finding =
        "no token present: insert the card or token (docs/smartcard.md works up "
        "from the reader)";
    return check;
  }
  std::string labels;
  for (const auto& token : tokens) {
    labels += (labels.empty() ? "\"" : ", \"") + token.value("label", "") + "\"";
  }
  check.finding =
      std::to_string(tokens.size()) + (tokens.size() == 1 ? " token: " : " tokens: ") + labels;
  return check;
}

}  // namespace

void checkTokens(const Context& context, Checks& out) {
  if (!context.status) {
    for (const char* id : {"modules", "tokens"}) {
      out.push_back({id, Status::Skip, "the agent did not answer (agent.running)", "", {}});
    }
    return;
  }
  out.push_back(modulesCheck(context));
  out.push_back(tokensCheck(context));
}

}  // namespace p2pcp::cli::doctor
