// SPDX-License-Identifier: Apache-2.0
#include "ssh_agent_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "agent_harness.hpp"
#include "ssh_agent_client.hpp"

namespace p2pcp::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSshAgent = "/usr/bin/ssh-agent";
constexpr const char* kSshAdd = "/usr/bin/ssh-add";
constexpr const char* kPkcs11Helper = "/usr/lib/openssh/ssh-pkcs11-helper";

// Starts argv[0] with this process's environment plus `env`, stdin from
// /dev/null, stdout and stderr appended to `log`.
pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const fs::path& log) {
  std::vector<std::string> envStrings = testing::environmentWith(env);
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
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
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

// Waits for `pid` until `deadline`; returns its exit status, or nothing when it still runs.
std::optional<int> waitUntil(pid_t pid, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (done < 0 && errno != EINTR) {
      throw std::runtime_error("waitpid failed");
    }
    if (Clock::now() > deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Ends `pid`: SIGTERM, then SIGKILL if it has not exited within five seconds.
void terminate(pid_t pid) noexcept {
  try {
    ::kill(pid, SIGTERM);
    if (!waitUntil(pid, Clock::now() + std::chrono::seconds(5))) {
      ::kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor's last resort
  }
}

// The askpass program ssh-add runs for the PIN: an owner-only script, removed
// when this goes out of scope so the PIN does not stay on disk.
class AskpassScript {
 public:
  AskpassScript(fs::path path, const std::string& pin) : path_(std::move(path)) {
    if (pin.find_first_of("'\n") != std::string::npos) {
      throw std::invalid_argument("the PIN cannot be quoted in the askpass script");
    }
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (fd < 0) {
      throw std::runtime_error("cannot create " + path_.string());
    }
    const UniqueFd file(fd);
    const std::string script = "#!/bin/sh\nprintf '%s\\n' '" + pin + "'\n";
    if (::write(file.get(), script.data(), script.size()) != static_cast<ssize_t>(script.size())) {
      throw std::runtime_error("cannot write " + path_.string());
    }
  }
  AskpassScript(const AskpassScript&) = delete;
  AskpassScript& operator=(const AskpassScript&) = delete;
  AskpassScript(AskpassScript&&) = delete;
  AskpassScript& operator=(AskpassScript&&) = delete;
  ~AskpassScript() {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

}  // namespace

std::optional<std::string> SshAgentProcess::missingPrerequisite() {
  for (const char* program : {kSshAgent, kSshAdd, kPkcs11Helper}) {
    if (::access(program, X_OK) != 0) {
      return std::string(program) + " is not installed (package openssh-client)";
    }
  }
  return std::nullopt;
}

SshAgentProcess::SshAgentProcess(const fs::path& dir) : dir_(dir), socket_(dir / "ssh-agent.sock") {
  pid_ = spawn({kSshAgent, "-D", "-a", socket_.string()}, {}, dir_ / "ssh-agent.log");
  // Poll for the socket with a deadline rather than sleeping a fixed time.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (true) {
    try {
      (void)SshAgentClient(socket_);
      return;
    } catch (const SshAgentError&) {
      if (waitUntil(pid_, Clock::now())) {
        pid_ = -1;
        throw std::runtime_error("ssh-agent exited at start: " + log());
      }
      if (Clock::now() > deadline) {
        terminate(pid_);
        pid_ = -1;
        throw std::runtime_error("ssh-agent did not listen in time: " + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

SshAgentProcess::~SshAgentProcess() {
  if (pid_ > 0) {
    terminate(pid_);
  }
}

void SshAgentProcess::addPkcs11Provider(const std::string& module, const std::string& pin) {
  const AskpassScript askpass(dir_ / "askpass.sh", pin);
  const fs::path addLog = dir_ / "ssh-add.log";
  const pid_t add = spawn({kSshAdd, "-s", module},
                          {{"SSH_AUTH_SOCK", socket_.string()},
                           {"SSH_ASKPASS", askpass.path().string()},
                           {"SSH_ASKPASS_REQUIRE", "force"}},
                          addLog);
  const auto status = waitUntil(add, Clock::now() + std::chrono::seconds(30));
  if (!status) {
    terminate(add);
  }
  if (status != 0) {
    std::ifstream in(addLog);
    std::stringstream text;
    text << in.rdbuf();
    throw std::runtime_error("ssh-add -s " + module + " failed: " + text.str() + log());
  }
}

std::string SshAgentProcess::log() const {
  std::ifstream in(dir_ / "ssh-agent.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace p2pcp::bench
