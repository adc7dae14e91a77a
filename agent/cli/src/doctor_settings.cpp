// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor: the administrator's policy and the person's agent.json, read
// by the agent's own parsers, so the error is the one the agent would stop with.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "doctor.hpp"

namespace p2pcp::cli::doctor {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Check policyCheck(Context& context) {
  const fs::path& file = context.paths.policyFile;
  Check check{"policy", Status::Ok, "", "", {{"file", file.string()}}};
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0 && errno == ENOENT) {
    context.policy = agent::Policy{};
    check.finding = "no policy at " + file.string() + ": the defaults apply";
    check.details["present"] = false;
    return check;
  }
  check.details["present"] = true;
  try {
    context.policy = agent::Policy::load(file);
    check.finding = file.string() + " is valid";
    check.details["allowedExtensions"] = context.policy->allowedExtensions;
    check.details["allowedModules"] = context.policy->allowedModules;
  } catch (const std::exception& e) {
    check.status = Status::Fail;
    // The parser's message names the file, the field and the entry.
    check.finding = std::string(e.what()) +
                    "; the agent will not start and the native host "
                    "serves no extension";
    check.fix = editSystemFileCommand(file);
    context.policyFailure = check;
  }
  return check;
}

// The module the settings name: P2PCP_PKCS11_MODULE wins over agent.json.
Check moduleProblem(const Context& context, const std::string& module, Check check) {
  const bool fromEnvironment = environment("P2PCP_PKCS11_MODULE").has_value();
  const std::string source =
      fromEnvironment ? "P2PCP_PKCS11_MODULE" : "module in " + context.paths.configFile().string();
  const std::string fix =
      fromEnvironment ? "unset P2PCP_PKCS11_MODULE" : editCommand(context.paths.configFile());
  std::string resolved;
  try {
    resolved = agent::resolveModulePath(module);
  } catch (const std::exception& e) {
    check.status = Status::Fail;
    check.finding =
        source + " names " + module + ", which does not exist: the agent will not start";
    check.fix = fix;
    return check;
  }
  check.details["module"] = resolved;
  if (context.policy && !context.policy->allowedModules.empty() &&
      std::find(context.policy->allowedModules.begin(), context.policy->allowedModules.end(),
                resolved) == context.policy->allowedModules.end()) {
    check.status = Status::Fail;
    check.finding = source + " names " + resolved +
                    ", which the policy's allowedModules does not list: the agent will not start";
    check.fix = fix;
  }
  return check;
}

Check settingsCheck(Context& context) {
  const fs::path file = context.paths.configFile();
  Check check{"settings", Status::Ok, "", "", {{"file", file.string()}}};
  try {
    context.config = agent::Config::load(file);
  } catch (const std::exception& e) {
    check.status = Status::Fail;
    check.finding = std::string(e.what()) + "; the agent will not start";
    check.fix = editCommand(file);
    context.configFailure = check;
    return check;
  }
  check.finding = fs::exists(file) ? file.string() + " is valid"
                                   : "no " + file.string() + ": the defaults apply";
  if (context.config->module) {
    check = moduleProblem(context, *context.config->module, check);
    if (check.status == Status::Fail) {
      context.configFailure = check;
    }
  }
  return check;
}

}  // namespace

void checkSettings(Context& context, Checks& out) {
  out.push_back(policyCheck(context));
  out.push_back(settingsCheck(context));
}

}  // namespace p2pcp::cli::doctor
