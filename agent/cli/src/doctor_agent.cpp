// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor: the agent's socket directory and socket, whether the agent
// runs (or starts), how it is started on demand, and whether it runs the
// binary that is installed now.
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <fstream>
#include <sstream>
#include <system_error>

#include "doctor.hpp"
#include "p2pcp/agent/private_directory.hpp"
#include "p2pcp/agent/version.hpp"
#include "p2pcp/client/agent_client.hpp"
#include "p2pcp/common/framing.hpp"
#include "p2pcp/pinentry/pinentry.hpp"

namespace p2pcp::cli::doctor {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPackage = "p2pcp-agent";

std::string reinstallCommand() {
  return asRoot(std::string("apt-get install --reinstall ") + kPackage);
}

std::optional<fs::path> thisProgramDirectory() {
  std::array<char, PATH_MAX> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) {
    return std::nullopt;
  }
  return fs::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path();
}

bool isExecutable(const fs::path& file) {
  std::error_code ignored;
  return fs::is_regular_file(file, ignored) && ::access(file.c_str(), X_OK) == 0;
}

// The program the CLI and the native host start, found as agent_client.cpp
// finds it: beside this program, else in $PATH.
std::optional<fs::path> agentProgram() {
  if (const auto dir = thisProgramDirectory(); dir && isExecutable(*dir / "p2pcp-agent")) {
    return *dir / "p2pcp-agent";
  }
  try {
    return pinentry::locateProgram("p2pcp-agent");
  } catch (const pinentry::PinentryError&) {
    return std::nullopt;
  }
}

// Where that agent looks for its PKCS#11 helper (module_discovery.cpp).
std::vector<fs::path> helperCandidates(const fs::path& agent) {
  std::error_code ignored;
  const fs::path dir = fs::weakly_canonical(agent, ignored).parent_path();
  return {dir / "p2pcp-pkcs11-helper", dir.parent_path() / "libexec/p2pcp/p2pcp-pkcs11-helper",
          P2PCP_PKCS11_HELPER_INSTALLED};
}

std::string lastLines(const fs::path& file, std::size_t count) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  std::string out;
  for (std::size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    out += (out.empty() ? "" : " | ") + lines[i];
  }
  return out;
}

// Whether DIR is a directory the agent makes for itself ($XDG_RUNTIME_DIR/p2pcp or
// /tmp/p2pcp-UID), so that removing it is a fix. Any other directory came from
// P2PCP_AGENT_SOCK and may be /tmp, /run or a home: never suggest removing or
// re-moding that; suggest a socket of one's own instead.
bool isAgentsOwnDirectory(const fs::path& dir) {
  const std::string name = dir.filename().string();
  return name == "p2pcp" || name == "p2pcp-" + std::to_string(::geteuid());
}

constexpr const char* kOwnSocketFix =
    "unset P2PCP_AGENT_SOCK (or point it at a socket in a directory of your own, mode 0700)";

Check socketDirectoryCheck(const fs::path& dir, bool& trusted) {
  Check check{"agent.socket-directory", Status::Ok, "", "", {{"directory", dir.string()}}};
  trusted = false;
  try {
    agent::verifyPrivateDirectory(dir);  // the client's own check
    trusted = true;
    check.finding = dir.string() + " is yours alone (0700)";
  } catch (const agent::UntrustedDirectory& e) {
    check.status = Status::Fail;
    check.finding = e.what();
    // Which fix: in the order verifyPrivateDirectory refuses.
    struct stat st {};
    const std::string quoted = shellQuoted(dir.string());
    const bool lstatFailed = ::lstat(dir.c_str(), &st) != 0;
    if (!lstatFailed && S_ISLNK(st.st_mode)) {
      check.fix = "rm " + quoted;  // removes the link only, never what it points at
    } else if (lstatFailed || !S_ISDIR(st.st_mode)) {
      check.fix = isAgentsOwnDirectory(dir) ? "rm " + quoted : kOwnSocketFix;
    } else if (st.st_uid != ::geteuid()) {
      check.fix = isAgentsOwnDirectory(dir) ? asRoot("rm -r " + quoted) : kOwnSocketFix;
    } else {
      check.fix = "chmod 700 " + quoted;  // only ever tightens a directory of one's own
    }
  } catch (const std::system_error& e) {
    std::error_code ignored;
    if (e.code() == std::errc::no_such_file_or_directory && dir.has_parent_path() &&
        !fs::is_directory(dir.parent_path(), ignored)) {
      // E.g. XDG_RUNTIME_DIR naming a directory that is not there: nothing can start.
      check.status = Status::Fail;
      check.finding = dir.parent_path().string() + ", where the socket directory " + dir.string() +
                      " belongs, does not exist";
      check.fix = "mkdir -m 700 -p " + shellQuoted(dir.parent_path().string());
    } else if (e.code() == std::errc::no_such_file_or_directory) {
      trusted = true;
      check.finding = dir.string() + " does not exist yet; the agent makes it when it starts";
    } else {
      check.status = Status::Fail;
      check.finding = e.what();
    }
  }
  return check;
}

Check socketCheck(const fs::path& socket, bool directoryTrusted) {
  Check check{"agent.socket", Status::Ok, "", "", {{"socket", socket.string()}}};
  if (!directoryTrusted) {
    check.status = Status::Skip;
    check.finding = "not looked at: its directory is not trusted (agent.socket-directory)";
    return check;
  }
  struct stat st {};
  if (::lstat(socket.c_str(), &st) != 0) {
    check.finding = "no socket at " + socket.string() + " (no agent listens there now)";
    return check;
  }
  if (!S_ISSOCK(st.st_mode)) {
    check.status = Status::Fail;
    check.finding = socket.string() + " is not a socket: no agent can listen there";
    check.fix = "rm " + shellQuoted(socket.string());
  } else if (st.st_uid != ::geteuid()) {
    check.status = Status::Fail;
    check.finding = socket.string() + " belongs to uid " + std::to_string(st.st_uid) +
                    ", not to you: someone else put it there";
    check.fix = isAgentsOwnDirectory(socket.parent_path())
                    ? asRoot("rm -r " + shellQuoted(socket.parent_path().string()))
                    : kOwnSocketFix;
  } else {
    check.finding = socket.string() + " is a socket of yours";
  }
  return check;
}

// Why the agent did not start, from what the other checks found.
std::string startFix(const Context& context, const fs::path& log) {
  if (context.policyFailure) {
    return context.policyFailure->fix;
  }
  if (context.configFailure) {
    return context.configFailure->fix;
  }
  if (!agentProgram()) {
    return reinstallCommand();
  }
  std::error_code ignored;
  if (!fs::exists(log, ignored)) {
    // Run in the foreground, it says on the terminal why it stops.
    return "p2pcp-agent --socket " + context.paths.socket.string();
  }
  return "tail -n 20 " + shellQuoted(log.string());
}

void describeRunning(Check& check, const json& status, bool started) {
  const std::string version = status.value("version", "?");
  const std::string pid = std::to_string(status.value("pid", 0));
  check.finding = started ? "was not running; started p2pcp-agent " + version + " (pid " + pid + ")"
                          : "p2pcp-agent " + version + " runs as pid " + pid;
  check.details["pid"] = status.value("pid", 0);
  check.details["version"] = version;
  check.details["started"] = started;
}

Check runningCheck(Context& context, bool directoryTrusted, const std::string& directoryFix) {
  const fs::path& socket = context.paths.socket;
  const fs::path log = socket.parent_path() / "agent.log";
  Check check{"agent.running", Status::Fail, "", "", {{"socket", socket.string()}}};
  if (!directoryTrusted) {
    check.finding = "not contacted: its socket directory is not trusted (agent.socket-directory)";
    check.fix = directoryFix;
    return check;
  }
  std::string notRunning;
  try {
    client::ConnectOptions options;
    options.autostart = false;
    client::AgentClient agent(options);
    context.status = agent.call("status");
    check.status = Status::Ok;
    describeRunning(check, *context.status, false);
    return check;
  } catch (const client::AgentUnavailable& e) {
    notRunning = e.what();
  } catch (const std::exception& e) {  // AgentCallError, FramingError: it answers, but wrongly
    check.finding =
        std::string("the agent at ") + socket.string() + " does not answer status: " + e.what();
    check.fix = "tail -n 20 " + shellQuoted(log.string());
    return check;
  }
  if (notRunning.find("refusing") != std::string::npos) {
    // Served by another user: nothing was sent, and nothing is started in its place.
    check.finding = notRunning;
    check.fix = isAgentsOwnDirectory(socket.parent_path())
                    ? asRoot("rm -r " + shellQuoted(socket.parent_path().string()))
                    : kOwnSocketFix;
    return check;
  }
  if (environment("P2PCP_NO_AUTOSTART")) {
    check.finding = notRunning + "; P2PCP_NO_AUTOSTART is set, so p2pcp does not start it";
    check.fix = "p2pcp-agent --daemon";
    return check;
  }
  try {
    client::AgentClient agent;  // starts it, as every p2pcp command would
    context.status = agent.call("status");
    check.status = Status::Ok;
    describeRunning(check, *context.status, true);
  } catch (const std::exception& e) {
    check.finding = std::string("not running, and it does not start: ") + e.what();
    if (const std::string tail = lastLines(log, 3); !tail.empty()) {
      check.finding += " (" + log.string() + ": " + tail + ")";
    }
    check.fix = startFix(context, log);
  }
  return check;
}

// A socket unit enabled for this user or for all users (systemctl --global).
std::optional<fs::path> enabledSocketUnit() {
  std::vector<fs::path> wants = {"/etc/systemd/user/sockets.target.wants/p2pcp-agent.socket"};
  const auto config = environment("XDG_CONFIG_HOME");
  const auto home = environment("HOME");
  if (config || home) {
    const fs::path base = config ? fs::path(*config) : fs::path(*home) / ".config";
    wants.insert(wants.begin(), base / "systemd/user/sockets.target.wants/p2pcp-agent.socket");
  }
  for (const auto& link : wants) {
    std::error_code ignored;
    if (fs::exists(link, ignored)) {
      return link;
    }
  }
  return std::nullopt;
}

Check startCheck() {
  Check check{"agent.start", Status::Ok, "", "", json::object()};
  const auto program = agentProgram();
  if (!program) {
    check.status = Status::Fail;
    check.finding = "p2pcp-agent is neither beside p2pcp nor in PATH: nothing can start the agent";
    check.fix = reinstallCommand();
    return check;
  }
  check.details["program"] = program->string();
  std::optional<fs::path> helper;
  json looked = json::array();
  for (const auto& candidate : helperCandidates(*program)) {
    looked.push_back(candidate.string());
    if (!helper && isExecutable(candidate)) {
      helper = candidate;
    }
  }
  if (!helper) {
    check.status = Status::Fail;
    check.finding = "the agent's PKCS#11 helper p2pcp-pkcs11-helper is missing (looked at " +
                    looked.dump() + "): the agent cannot start";
    check.fix = reinstallCommand();
    return check;
  }
  check.details["helper"] = helper->string();
  const auto unit = enabledSocketUnit();
  if (unit) {
    check.details["socketUnit"] = unit->string();
  }
  const bool autostart = !environment("P2PCP_NO_AUTOSTART");
  check.details["autostart"] = autostart;
  if (unit) {
    check.finding = "socket activation (p2pcp-agent.socket is enabled: " + unit->string() + ")";
    if (autostart) {
      check.finding += ", else p2pcp starts " + program->string();
    }
  } else if (autostart) {
    check.finding =
        "p2pcp and the native host start " + program->string() + " when it is not running";
  } else {
    check.status = Status::Warn;
    check.finding =
        "P2PCP_NO_AUTOSTART is set and p2pcp-agent.socket is not enabled: nothing "
        "starts the agent on demand";
    check.fix = "unset P2PCP_NO_AUTOSTART";
  }
  return check;
}

std::string restartCommand(long long pid) {
  std::ifstream cgroup("/proc/" + std::to_string(pid) + "/cgroup");
  std::stringstream text;
  text << cgroup.rdbuf();
  if (text.str().find("p2pcp-agent.service") != std::string::npos) {
    return "systemctl --user restart p2pcp-agent";
  }
  // The next p2pcp command, or the next page, starts the installed one.
  return "kill " + std::to_string(pid);
}

Check versionCheck(const Context& context) {
  Check check{"agent.version", Status::Ok, "", "", {{"cli", agent::kAgentVersion}}};
  if (!context.status) {
    check.status = Status::Skip;
    check.finding = "the agent did not answer (agent.running)";
    return check;
  }
  const std::string version = context.status->value("version", "");
  const long long pid = context.status->value("pid", 0LL);
  check.details["agent"] = version;
  std::array<char, PATH_MAX> exe{};
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  const ssize_t n = ::readlink(link.c_str(), exe.data(), exe.size() - 1);
  const std::string binary = n > 0 ? std::string(exe.data(), static_cast<std::size_t>(n)) : "";
  check.details["binary"] = binary;
  if (version != agent::kAgentVersion) {
    check.status = Status::Warn;
    check.finding = "the agent (pid " + std::to_string(pid) + ") is version " + version +
                    ", this p2pcp is " + agent::kAgentVersion +
                    ": it still runs the binary from before an upgrade";
    check.fix = restartCommand(pid);
  } else if (binary.ends_with(" (deleted)")) {
    check.status = Status::Warn;
    check.finding = "the agent (pid " + std::to_string(pid) + ") runs " + binary +
                    ": its binary was replaced or removed since it started";
    check.fix = restartCommand(pid);
  } else {
    check.finding = "the agent and p2pcp are both version " + version;
  }
  return check;
}

// The loopback WebSocket front door, as the running agent reports it.
Check frontDoorCheck(const Context& context) {
  Check check{"agent.websocket", Status::Ok, "", "", json::object()};
  if (!context.status) {
    check.status = Status::Skip;
    check.finding = "the agent did not answer (agent.running)";
    return check;
  }
  const json door = context.status->value("webSocket", json::object());
  check.details = door;
  const std::string state = door.value("state", "");
  const std::string port = std::to_string(door.value("port", 0));
  const bool byPolicy = door.value("setBy", "") == "policy";
  if (state == "off" || state.empty()) {
    check.finding = "the WebSocket front door is off (agent.json names no port)";
  } else if (state == "listening") {
    check.finding = "the WebSocket front door listens on " +
                    door.value("url", "ws://127.0.0.1:" + port) +
                    (byPolicy ? " (the administrator's policy turns it on)" : "");
  } else if (state == "forbidden") {
    check.status = Status::Warn;
    check.finding = "agent.json turns the WebSocket front door on at port " + port +
                    ", but it stays off: " + door.value("error", "");
    // A malformed policy has its own finding and fix (policy).
    if (!context.policyFailure) {
      check.fix = editCommand(context.paths.configFile());
    }
  } else {
    check.status = Status::Fail;
    const long long pid = context.status->value("pid", 0LL);
    check.finding =
        "the WebSocket front door is off: " + door.value("error", state) +
        "; `ss -ltnp 'sport = :" + port + "'` names the program that holds it. " +
        (byPolicy ? "The policy's port: every user's agent on this machine tries it, "
                    "only one gets it; choose another port in the policy"
                  : "Choose another port in agent.json (\"webSocket\": {\"port\": N})") +
        ", then restart the agent";
    check.fix = (byPolicy ? editSystemFileCommand(context.paths.policyFile)
                          : editCommand(context.paths.configFile())) +
                " && " + restartCommand(pid);
  }
  return check;
}

}  // namespace

void checkAgent(Context& context, Checks& out) {
  const fs::path& socket = context.paths.socket;
  const fs::path dir = socket.has_parent_path() ? socket.parent_path() : fs::path(".");
  bool trusted = false;
  Check directory = socketDirectoryCheck(dir, trusted);
  const std::string directoryFix = directory.fix;
  out.push_back(std::move(directory));
  // After the agent had its chance to start: then the socket should be there.
  out.push_back(runningCheck(context, trusted, directoryFix));
  out.push_back(socketCheck(socket, trusted));
  out.push_back(startCheck());
  out.push_back(versionCheck(context));
  out.push_back(frontDoorCheck(context));
}

}  // namespace p2pcp::cli::doctor
