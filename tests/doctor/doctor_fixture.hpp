// SPDX-License-Identifier: Apache-2.0
#pragma once
// The fixture of the p2pcp doctor tests: the shipped p2pcp binary against a
// real agent on a SoftHSM2 token, run as root in a private mount namespace
// whose /etc, /usr and /opt are writable copies (private-system.sh), so each
// test can break one thing where the real paths are (a manifest, a browser
// policy, the agent policy, ...) and see doctor name that problem and the
// command that fixes it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"

namespace p2pcp::testing::doctor {

namespace fs = std::filesystem;
using nlohmann::json;

inline const std::string kCli = P2PCP_CLI_PROGRAM;
inline const std::string kHost = P2PCP_HOST_PROGRAM;
inline const std::string kBuiltInChromiumId = "hpncikinbmmcogikfdckffepdimmcaaa";

struct DoctorRun {
  int exitCode = -1;
  std::string out;
  std::string err;
  json report;  // parsed stdout with --json

  [[nodiscard]] json check(const std::string& id) const {
    for (const auto& check : report.at("checks")) {
      if (check.at("id") == id) {
        return check;
      }
    }
    ADD_FAILURE() << "no check " << id << " in " << out;
    return json::object();
  }
  [[nodiscard]] std::string status(const std::string& id) const {
    return check(id).value("status", "");
  }
  [[nodiscard]] std::string finding(const std::string& id) const {
    return check(id).value("finding", "");
  }
  [[nodiscard]] std::string fix(const std::string& id) const { return check(id).value("fix", ""); }
};

inline std::string readFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void writeFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// Runs argv with exactly `env`, stdout and stderr to files; returns the exit code.
inline int runProgram(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const fs::path& out, const fs::path& err) {
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) {
    argp.push_back(a.data());
  }
  argp.push_back(nullptr);
  std::vector<std::string> envStrings = env;
  std::vector<char*> envp;
  for (auto& e : envStrings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot run " + argv[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class Doctor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !fs::exists("/usr/bin/unshare") ||
        std::system("/usr/bin/unshare -m --propagation private true") != 0) {  // NOLINT
      GTEST_SKIP() << "needs root and unshare (a private mount namespace)";
    }
    if (const auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    std::string pattern = (fs::temp_directory_path() / "p2pcp-doctor-test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    scratch_ = pattern;
    fs::create_directories(scratch_ / "layers");
    fs::create_directories(home());
  }

  void TearDown() override {
    // Agents doctor started are not our children: stop each by its pid and
    // wait until it is gone before its directory is removed.
    for (const pid_t pid : started_) {
      ::kill(pid, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (::kill(pid, 0) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid, SIGKILL);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    agent_.reset();
    std::error_code ignored;
    fs::remove_all(scratch_, ignored);
  }

  [[nodiscard]] fs::path home() const { return scratch_ / "home"; }

  AgentHarness& startAgent(AgentSetup setup = {}) {
    agent_ = std::make_unique<AgentHarness>(std::move(setup));
    return *agent_;
  }

  // The environment p2pcp runs in: the agent's (its socket, SoftHSM2, the
  // scripted pinentry), a home of its own, and nothing that would change
  // what doctor reads: no P2PCP_POLICY (the real /etc path), no display.
  [[nodiscard]] std::map<std::string, std::string> baseEnvironment() const {
    std::map<std::string, std::string> env;
    if (agent_) {
      env = agent_->environment();
    }
    env["HOME"] = home().string();
    if (!env.contains("XDG_CONFIG_HOME")) {
      env["XDG_CONFIG_HOME"] = (home() / ".config").string();
    }
    env["P2PCP_POLICY"] = "";
    env["P2PCP_NO_AUTOSTART"] = "";
    env["DISPLAY"] = "";
    env["WAYLAND_DISPLAY"] = "";
    return env;
  }

  // Writes the user manifests as p2pcp does, for the host in the build tree.
  [[nodiscard]] std::string installUserHosts() const {
    return kCli + " install-browser-hosts --host " + kHost + " >/dev/null; ";
  }

  // p2pcp doctor in the private namespace, after `setup` (shell, as root, there).
  DoctorRun doctor(const std::string& setup,
                   const std::map<std::string, std::string>& overrides = {},
                   const std::string& program = kCli, bool asJson = true) {
    auto env = baseEnvironment();
    for (const auto& [name, value] : overrides) {
      env[name] = value;
    }
    std::vector<std::string> argv = {"/usr/bin/unshare",
                                     "-m",
                                     "--propagation",
                                     "private",
                                     "/bin/sh",
                                     P2PCP_PRIVATE_SYSTEM,
                                     (scratch_ / "layers").string(),
                                     setup,
                                     program,
                                     "doctor"};
    if (asJson) {
      argv.emplace_back("--json");
    }
    DoctorRun result;
    result.exitCode = runProgram(argv, p2pcp::testing::environmentWith(env),
                                 scratch_ / "doctor.out", scratch_ / "doctor.err");
    result.out = readFile(scratch_ / "doctor.out");
    result.err = readFile(scratch_ / "doctor.err");
    if (asJson) {
      result.report = json::parse(result.out, nullptr, false);
      EXPECT_FALSE(result.report.is_discarded()) << result.out << result.err;
      if (result.report.is_discarded()) {
        result.report = {{"checks", json::array()}};
      }
    }
    return result;
  }

  // An agent doctor started: stopped by its pid at the end of the test.
  void adopt(const DoctorRun& run) {
    const json details = run.check("agent.running").value("details", json::object());
    if (details.value("started", false)) {
      started_.push_back(details.value("pid", 0));
    }
  }

  fs::path scratch_;
  std::unique_ptr<AgentHarness> agent_;
  std::vector<pid_t> started_;
};

inline std::string describe(const DoctorRun& run) {
  return run.out + run.err;
}

}  // namespace p2pcp::testing::doctor
