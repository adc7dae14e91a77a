// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor: runs the check groups and prints them for a person or, with
// --json, for a machine (docs/cli.md, "p2pcp doctor").
#include "doctor.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string_view>

#include "p2pcp/agent/config_file.hpp"
#include "p2pcp/agent/version.hpp"

namespace p2pcp::cli::doctor {

using nlohmann::json;

const char* statusName(Status status) {
  switch (status) {
    case Status::Ok:
      return "ok";
    case Status::Warn:
      return "warn";
    case Status::Fail:
      return "fail";
    case Status::Skip:
      return "skip";
  }
  return "fail";
}

std::string asRoot(const std::string& command) {
  return ::geteuid() == 0 ? command : "sudo " + command;
}

std::optional<std::string> readSmallRegularFile(const std::filesystem::path& file) {
  try {
    return agent::readRegularFile(file);
  } catch (const std::exception&) {
    return std::nullopt;  // the check that asked says what it could not read
  }
}

std::string shellQuoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string editCommand(const std::filesystem::path& file) {
  return "\"${EDITOR:-vi}\" " + shellQuoted(file.string());
}

std::string editSystemFileCommand(const std::filesystem::path& file) {
  return ::geteuid() == 0 ? editCommand(file) : "sudoedit " + shellQuoted(file.string());
}

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): CLI, one thread
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}

namespace {

json toJson(const Check& check) {
  json out = {{"id", check.id}, {"status", statusName(check.status)}, {"finding", check.finding}};
  if (!check.fix.empty()) {
    out["fix"] = check.fix;
  }
  if (!check.details.empty()) {
    out["details"] = check.details;
  }
  return out;
}

// Fixed width, so a column of statuses reads at a glance.
std::string label(Status status) {
  switch (status) {
    case Status::Ok:
      return "ok  ";
    case Status::Warn:
      return "WARN";
    case Status::Fail:
      return "FAIL";
    case Status::Skip:
      return "skip";
  }
  return "FAIL";
}

}  // namespace

int run(bool asJson) {
  Context context{agent::Paths::fromEnvironment(), {}, {}, {}, {}, {}};
  Checks checks;
  // One group that meets something unexpected (a hostile file, a broken answer) must not
  // cost the support desk the rest of the report.
  const auto guarded = [&](const char* group, auto checkGroup) {
    try {
      checkGroup(context, checks);
    } catch (const std::exception& e) {
      checks.push_back({std::string(group), Status::Fail,
                        std::string("this group of checks stopped early: ") + e.what(), "",
                        json::object()});
    }
  };
  guarded("settings", checkSettings);
  guarded("agent", checkAgent);
  guarded("tokens", checkTokens);
  guarded("pinentry", checkPinentry);
  guarded("browsers", checkBrowsers);

  json counts = {{"ok", 0}, {"warn", 0}, {"fail", 0}, {"skip", 0}};
  for (const auto& check : checks) {
    counts[statusName(check.status)] = counts[statusName(check.status)].get<int>() + 1;
  }
  const bool healthy = counts["fail"].get<int>() == 0;
  if (asJson) {
    json list = json::array();
    for (const auto& check : checks) {
      list.push_back(toJson(check));
    }
    // Findings quote files and logs: bytes that are not UTF-8 are replaced, never fatal.
    std::cout << json{{"version", agent::kAgentVersion},
                      {"ok", healthy},
                      {"counts", counts},
                      {"checks", list}}
                     .dump(2, ' ', false, json::error_handler_t::replace)
              << '\n';
  } else {
    for (const auto& check : checks) {
      std::cout << label(check.status) << "  " << check.id << ": " << check.finding << '\n';
      if (!check.fix.empty()) {
        std::cout << "      fix: " << check.fix << '\n';
      }
    }
    std::cout << checks.size() << " checks: " << counts["ok"].get<int>() << " ok, "
              << counts["warn"].get<int>()
              << (counts["warn"].get<int>() == 1 ? " warning, " : " warnings, ")
              << counts["fail"].get<int>() << " failed"
              << (counts["skip"].get<int>() > 0
                      ? ", " + std::to_string(counts["skip"].get<int>()) + " skipped"
                      : std::string())
              << '\n';
  }
  return healthy ? 0 : 1;
}

}  // namespace p2pcp::cli::doctor
