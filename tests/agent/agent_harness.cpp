// SPDX-License-Identifier: Apache-2.0
#include "agent_harness.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace p2pcp::testing {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> environmentWith(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (!overrides.contains(entry.substr(0, entry.find('=')))) {
      strings.push_back(entry);
    }
  }
  for (const auto& [name, value] : overrides) {
    std::string entry = name;
    entry += '=';
    entry += value;
    strings.push_back(std::move(entry));
  }
  return strings;
}

namespace {

constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";

// Starts argv[0] with the current environment plus `env`; stdout and stderr go to `log`.
pid_t spawnProcess(const std::vector<std::string>& argv,
                   const std::map<std::string, std::string>& env, const fs::path& log) {
  std::vector<std::string> envStrings = environmentWith(env);
  std::vector<char*> envp;
  envp.reserve(envStrings.size() + 1);
  for (auto& s : envStrings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  argp.reserve(args.size() + 1);
  for (auto& a : args) {
    argp.push_back(a.data());
  }
  argp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot run " + argv[0]);
  }
  return pid;
}

int runCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const fs::path& log) {
  const pid_t pid = spawnProcess(argv, env, log);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::optional<std::string> AgentHarness::missingPrerequisite() {
  if (!fs::exists(kModule) || std::system("command -v softhsm2-util >/dev/null") != 0) {  // NOLINT
    return "SoftHSM2 is not installed";
  }
  return std::nullopt;
}

AgentHarness::AgentHarness(AgentSetup setup) : setup_(std::move(setup)) {
  std::string pattern = (fs::temp_directory_path() / "p2pcp-agent-test.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  home_ = pattern;
  fs::create_directories(home_ / "tokens");
  fs::create_directories(home_ / "run");
  fs::permissions(home_ / "run", fs::perms::owner_all, fs::perm_options::replace);
  socket_ = home_ / "run" / "agent.sock";
  std::ofstream(home_ / "softhsm2.conf") << "directories.tokendir = " << (home_ / "tokens").string()
                                         << "\nobjectstore.backend = file\nlog.level = ERROR\n";
  const auto env = environment();
  if (runCommand({"/usr/bin/softhsm2-util", "--init-token", "--free", "--label", "p2pcp-test",
                  "--pin", setup_.pin, "--so-pin", "5678"},
                 env, home_ / "setup.log") != 0) {
    throw std::runtime_error("softhsm2-util --init-token failed");
  }
  if (setup_.importFixtures) {
    int id = 1;
    for (const char* name : {"rsa2048", "p256", "p384", "ed25519"}) {
      const std::string path = std::string(P2PCP_FIXTURES_DIR) + "/" + name + ".pem";
      if (runCommand({P2PCP_TOKEN_IMPORT, "--module", kModule, "--token", "p2pcp-test", "--pin",
                      setup_.pin, "--label", std::string("fixture-") + name, "--id",
                      "0" + std::to_string(id++), path},
                     env, home_ / "setup.log") != 0) {
        throw std::runtime_error(std::string("importing ") + name + " failed");
      }
    }
  }
  start();
}

AgentHarness::~AgentHarness() {
  stop();
  std::error_code ignored;
  fs::remove_all(home_, ignored);
}

std::map<std::string, std::string> AgentHarness::environment() const {
  std::map<std::string, std::string> env{
      {"SOFTHSM2_CONF", (home_ / "softhsm2.conf").string()},
      {"P2PCP_PKCS11_MODULE", setup_.module.empty() ? kModule : setup_.module},
      {"P2PCP_AGENT_SOCK", socket_.string()},
      {"XDG_CONFIG_HOME", (home_ / "config").string()},
      {"XDG_RUNTIME_DIR", (home_ / "run").string()},
      {"P2PCP_POLICY", (home_ / "policy.json").string()},
      {"P2PCP_PINENTRY",
       setup_.pinentryProgram.empty() ? P2PCP_SCRIPTED_PINENTRY : setup_.pinentryProgram},
      {"P2PCP_TEST_PIN", setup_.pinentryPins.empty() ? setup_.pin : setup_.pinentryPins},
      {"P2PCP_TEST_PIN_STATE", (home_ / "pinentry.state").string()},
      {"P2PCP_TEST_PIN_CANCEL", setup_.cancelPin ? "1" : ""},
      {"P2PCP_TEST_CONFIRM", setup_.confirm},
      {"P2PCP_TEST_PINENTRY_LOG", (home_ / "pinentry.log").string()},
      {"P2PCP_TEST_PINENTRY_DELAY_MS", std::to_string(setup_.pinentryDelayMs)},
      {"P2PCP_NO_AUTOSTART", "1"}};
  if (setup_.registeredModules) {
    env.erase("P2PCP_PKCS11_MODULE");
  }
  for (const auto& [name, value] : setup_.extraEnv) {
    env[name] = value;
  }
  return env;
}

void AgentHarness::writePolicy() const {
  std::error_code ignored;
  fs::remove(home_ / "policy.json", ignored);
  if (setup_.policy) {
    std::ofstream(home_ / "policy.json") << setup_.policy->dump(2);
  } else if (setup_.policyLink) {
    fs::create_symlink(*setup_.policyLink, home_ / "policy.json");
  }
}

void AgentHarness::start() {
  writePolicy();
  std::vector<std::string> argv = setup_.launcher;
  const std::string program =
      setup_.agentProgram.empty() ? std::string(P2PCP_AGENT_PROGRAM) : setup_.agentProgram;
  argv.insert(argv.end(), {program, "--socket", socket_.string()});
  pid_ = spawnProcess(argv, environment(), home_ / "agent.log");
  // Poll for the socket with a deadline rather than sleeping a fixed time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      (void)connect();
      return;
    } catch (const std::exception&) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("the agent exited at start: " + agentLog());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  throw std::runtime_error("the agent did not listen in time: " + agentLog());
}

void AgentHarness::stop() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
}

std::optional<int> AgentHarness::waitForExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    return std::nullopt;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

ProgramOutput AgentHarness::run(const std::vector<std::string>& argv,
                                const std::map<std::string, std::string>& extraEnv) const {
  auto env = environment();
  for (const auto& [name, value] : extraEnv) {
    env[name] = value;
  }
  const fs::path log = home_ / "program.log";
  std::error_code ignored;
  fs::remove(log, ignored);
  ProgramOutput result;
  result.exitCode = runCommand(argv, env, log);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  result.output = text.str();
  return result;
}

void AgentHarness::restart(const AgentSetup& setup) {
  stop();
  setup_ = setup;
  start();
}

client::AgentClient AgentHarness::connect() const {
  client::ConnectOptions options;
  options.socket = socket_;
  options.autostart = false;
  return client::AgentClient(options);
}

std::string AgentHarness::agentLog() const {
  std::ifstream in(home_ / "agent.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<json> AgentHarness::pinentryLog() const {
  std::vector<json> lines;
  std::ifstream in(home_ / "pinentry.log");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(json::parse(line));
    }
  }
  return lines;
}

int AgentHarness::countPinentry(const std::string& command) const {
  int n = 0;
  for (const auto& line : pinentryLog()) {
    if (line.value("cmd", "") == command) {
      ++n;
    }
  }
  return n;
}

std::string AgentHarness::keyUri(const std::string& fixture) const {
  auto agent = connect();
  for (const auto& key : agent.call("listKeys")) {
    if (key.value("label", "") == "fixture-" + fixture) {
      return key["uri"].get<std::string>();
    }
  }
  throw std::runtime_error("no fixture key " + fixture);
}

std::string AgentHarness::keyFingerprint(const std::string& fixture) const {
  auto agent = connect();
  for (const auto& key : agent.call("listKeys")) {
    if (key.value("label", "") == "fixture-" + fixture) {
      return key["fingerprint"].get<std::string>();
    }
  }
  throw std::runtime_error("no fixture key " + fixture);
}

int AgentHarness::runAgentOnce(const std::vector<std::string>& extraArgs) const {
  writePolicy();
  std::vector<std::string> argv = setup_.launcher;
  argv.emplace_back(P2PCP_AGENT_PROGRAM);
  argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
  return runCommand(argv, environment(), home_ / "agent-once.log");
}

}  // namespace p2pcp::testing
