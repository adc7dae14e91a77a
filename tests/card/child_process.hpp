// SPDX-License-Identifier: Apache-2.0
#pragma once
// Processes of the card stack: a private mount namespace, and child processes
// started in it, each stopped by its pid. Every child gets SIGKILL when the
// test process dies (PR_SET_PDEATHSIG), so a crashed test leaves no pcscd.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace p2pcp::testing {

// A mount namespace of its own with a tmpfs on /run (so /run/pcscd is this
// namespace's alone, and pcscd can run beside the machine's). Only an open file
// descriptor keeps it: it goes away, with its mounts, when this object and
// every process in it are gone. Needs root (CAP_SYS_ADMIN).
class MountNamespace {
 public:
  MountNamespace();
  MountNamespace(const MountNamespace&) = delete;
  MountNamespace& operator=(const MountNamespace&) = delete;
  MountNamespace(MountNamespace&&) = delete;
  MountNamespace& operator=(MountNamespace&&) = delete;
  ~MountNamespace();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  // A path nsenter --mount= accepts, valid while this object lives.
  [[nodiscard]] std::string path() const;
  // The argv prefix that runs a program inside (nsenter --mount=PATH --), killed
  // when the test process dies (setpriv --pdeathsig KILL). Both exec the program,
  // so its pid is the launcher's.
  [[nodiscard]] std::vector<std::string> launcher() const;

  // Why a namespace cannot be made here (not root, no CAP_SYS_ADMIN), or nothing.
  static std::optional<std::string> unavailableReason();

 private:
  int fd_ = -1;
};

struct SpawnOptions {
  int namespaceFd = -1;                      // setns() into it first; -1: stay
  std::map<std::string, std::string> env;    // added to this process's environment
  std::optional<std::filesystem::path> log;  // stdout and stderr (append); else /dev/null
  bool pipeStdin = false;                    // writeLine() feeds it
  bool pipeStdout = false;                   // readLine() reads it (stderr still to log)
};

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&&) = delete;
  ChildProcess& operator=(ChildProcess&&) = delete;
  // Stops it (SIGTERM, then SIGKILL after 5 s) if it still runs.
  ~ChildProcess();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running();
  // SIGTERM, then SIGKILL after `grace`; returns the exit status (waitpid form),
  // or nothing when it had already been reaped.
  std::optional<int> stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Waits for it to exit on its own; nothing on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  void writeLine(const std::string& line);
  // The next line of its stdout; nothing at end of output or timeout.
  std::optional<std::string> readLine(std::chrono::milliseconds timeout);
  void closeStdin();

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string pending_;  // stdout bytes read but not yet returned as a line
};

// Runs a program to completion; returns its exit code (128 + signal if killed).
int runToCompletion(const std::vector<std::string>& argv, const SpawnOptions& options,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace p2pcp::testing
