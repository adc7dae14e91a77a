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

// p11-kit's module file for a registered module: the one whose "module:"
// line names the same library (by path, or by file name for a relative one),
// where "disable-in: p2pcp-agent" keeps it out of the agent (docs/smartcard.md).
std::optional<fs::path> moduleFile(const std::string& modulePath) {
  std::vector<fs::path> dirs = {"/etc/pkcs11/modules", "/usr/share/p11-kit/modules"};
  if (const auto home = environment("HOME")) {
    dirs.insert(dirs.begin(), fs::path(*home) / ".config/pkcs11/modules");
  }
  const fs::path library(modulePath);
  for (const auto& dir : dirs) {
    std::error_code error;
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
      if (it->path().extension() != ".module") {
        continue;
      }
      std::ifstream in(it->path());
      for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("module:")) {
          continue;
        }
        const auto start = line.find_first_not_of(" \t", 7);
        const fs::path named =
            start == std::string::npos ? fs::path() : fs::path(line.substr(start));
        std::error_code ignored;
        if (named.filename() == library.filename() &&
            (!named.is_absolute() || fs::equivalent(named, library, ignored))) {
          return it->path();
        }
      }
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
// Sets the check's fix and says in its finding what the fix is for.
void moduleFix(const Context& context, const json& module, Check& check) {
  if (environment("P2PCP_PKCS11_MODULE")) {
    check.finding += "; P2PCP_PKCS11_MODULE names it: unset it and restart the agent";
    check.fix = "unset P2PCP_PKCS11_MODULE";
    return;
  }
  if (context.config && context.config->module) {
    check.finding += "; agent.json's \"module\" names it: name a working module, or none";
    check.fix = editCommand(context.paths.configFile());
    return;
  }
  if (const auto file = moduleFile(module.value("path", ""))) {
    check.finding += "; p11-kit registers it in " + file->string() +
                     ": fix or reinstall the module, or add \"disable-in: p2pcp-agent\" there "
                     "to keep it out of the agent";
    check.fix = file->string().starts_with("/etc") || file->string().starts_with("/usr")
                    ? editSystemFileCommand(*file)
                    : editCommand(*file);
    return;
  }
  check.finding += "; p11-kit registers it (p11-kit list-modules shows where)";
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
    moduleFix(context, *firstFailed, check);
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
