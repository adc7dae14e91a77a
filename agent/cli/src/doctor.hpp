// SPDX-License-Identifier: Apache-2.0
#pragma once
// p2pcp doctor: one command that says what is wrong with an install and the
// command that fixes each problem. Every check reads the real system paths
// (browser manifests, browser policies, /etc/p2pcp-agent); the tests run it
// in a private mount namespace instead of redirecting it (tests/doctor).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "p2pcp/agent/config.hpp"

namespace p2pcp::cli::doctor {

enum class Status { Ok, Warn, Fail, Skip };

// The stable name of a status in --json ("ok", "warn", "fail", "skip").
const char* statusName(Status status);

struct Check {
  std::string id;  // stable, e.g. "agent.socket-directory" (docs/cli.md lists them)
  Status status = Status::Ok;
  std::string finding;  // one line: what was found
  std::string fix;      // the command that fixes it; empty when there is nothing to fix
  nlohmann::json details = nlohmann::json::object();  // what was looked at, for machines
};

using Checks = std::vector<Check>;

// What the checks learn and share: the settings first, because the agent's
// start and the manifests' ids depend on them.
struct Context {
  agent::Paths paths;
  std::optional<agent::Policy> policy;  // nullopt: the policy file is malformed
  std::optional<agent::Config> config;  // nullopt: agent.json is malformed
  std::optional<Check> policyFailure;   // the policy check, when it failed
  std::optional<Check> configFailure;   // the settings check, when it failed
  // The agent's status result, when it answered.
  std::optional<nlohmann::json> status;
};

// `sudo COMMAND`, or COMMAND alone when we already run as root.
std::string asRoot(const std::string& command);
// The text of a regular file of at most 1 MiB, or nothing: doctor reads files that
// anyone may have put in place (manifests, browser policies), and a FIFO, a device or a
// huge file there must neither hang it nor exhaust its memory.
std::optional<std::string> readSmallRegularFile(const std::filesystem::path& file);
// TEXT as one word for a POSIX shell (single quotes; a ' inside written '\''), so a
// printed fix with a path from the environment or the disk runs as it reads.
std::string shellQuoted(std::string_view text);
// The command that opens a file of the person's in their editor.
std::string editCommand(const std::filesystem::path& file);
// The same for a system file: sudoedit, or the editor when we are root.
std::string editSystemFileCommand(const std::filesystem::path& file);
// Whether an environment variable is set and not empty.
std::optional<std::string> environment(const char* name);

// Each group appends its checks in the order a person reads them.
void checkSettings(Context& context, Checks& out);        // policy.json, agent.json
void checkAgent(Context& context, Checks& out);           // socket, running, start, version
void checkTokens(const Context& context, Checks& out);    // modules and tokens
void checkPinentry(const Context& context, Checks& out);  // pinentry
void checkBrowsers(const Context& context, Checks& out);  // manifests and browser policies

// Runs every check and prints them; 0 when none failed, 1 otherwise.
int run(bool json);

}  // namespace p2pcp::cli::doctor
