// SPDX-License-Identifier: Apache-2.0
#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "agent_harness.hpp"  // environmentWith

namespace p2pcp::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string errnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

void closeFd(int& fd) noexcept {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

// NUL-terminated pointer arrays over strings that outlive the exec.
std::vector<char*> pointersTo(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& s : strings) {
    pointers.push_back(s.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

int exitCodeOf(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

// --- MountNamespace -----------------------------------------------------------

MountNamespace::MountNamespace() {
  std::array<int, 2> ready{-1, -1};
  std::array<int, 2> release{-1, -1};
  if (::pipe2(ready.data(), O_CLOEXEC) != 0 || ::pipe2(release.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error(errnoText("pipe2"));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(errnoText("fork"));
  }
  if (pid == 0) {
    // The child makes the namespace, waits until the parent holds it open, and
    // exits. Only system calls here: the parent may have threads.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(1);
    }
    ::close(ready[0]);
    ::close(release[1]);  // else the read below never sees the end of file
    char step = 0;
    if (::unshare(CLONE_NEWNS) != 0) {
      step = 1;
    } else if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      step = 2;  // nothing mounted here may reach the machine's namespace
    } else if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
      step = 3;
    } else if (::mkdir("/run/pcscd", 0755) != 0) {
      step = 4;
    }
    const unsigned char report[2] = {static_cast<unsigned char>(step),
                                     static_cast<unsigned char>(errno)};
    (void)!::write(ready[1], report, sizeof report);
    char ignored = 0;
    (void)!::read(release[0], &ignored, 1);  // end of file: the parent has the namespace
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  std::array<unsigned char, 2> report{};
  const ssize_t got = ::read(ready[0], report.data(), report.size());
  ::close(ready[0]);
  if (got == 2 && report[0] == 0) {
    const std::string nsPath = "/proc/" + std::to_string(pid) + "/ns/mnt";
    fd_ = ::open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
  }
  ::close(release[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != 2 || report[0] != 0) {
    static constexpr std::array<const char*, 5> steps{"", "unshare(CLONE_NEWNS)",
                                                      "mount --make-rprivate /", "mount tmpfs /run",
                                                      "mkdir /run/pcscd"};
    const auto step = static_cast<std::size_t>(got == 2 ? report[0] : 0);
    throw std::runtime_error(std::string("private mount namespace: ") +
                             (step < steps.size() && step > 0 ? steps[step] : "no report") +
                             " failed: " + std::strerror(got == 2 ? report[1] : EIO));
  }
  if (fd_ < 0) {
    throw std::runtime_error(errnoText("opening the namespace"));
  }
}

MountNamespace::~MountNamespace() {
  closeFd(fd_);
}

std::string MountNamespace::path() const {
  return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_);
}

std::vector<std::string> MountNamespace::launcher() const {
  // setpriv: the program dies with the test process, like the stack's own children.
  return {"/usr/bin/setpriv", "--pdeathsig", "KILL", "/usr/bin/nsenter", "--mount=" + path(), "--"};
}

std::optional<std::string> MountNamespace::unavailableReason() {
  if (::geteuid() != 0) {
    return "needs root: pcscd runs in a private mount namespace";
  }
  try {
    const MountNamespace probe;
  } catch (const std::exception& e) {
    return e.what();
  }
  return std::nullopt;
}

// --- ChildProcess -------------------------------------------------------------

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) {
    throw std::invalid_argument("ChildProcess: empty argv");
  }
  std::vector<std::string> args = argv;
  std::vector<std::string> envStrings = environmentWith(options.env);
  const auto argp = pointersTo(args);
  const auto envp = pointersTo(envStrings);

  const int logFd =
      options.log ? ::open(options.log->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)
                  : ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  const int nullIn = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (logFd < 0 || nullIn < 0) {
    throw std::runtime_error(errnoText("opening the log of " + argv[0]));
  }
  std::array<int, 2> in{-1, -1};
  std::array<int, 2> out{-1, -1};
  if ((options.pipeStdin && ::pipe2(in.data(), O_CLOEXEC) != 0) ||
      (options.pipeStdout && ::pipe2(out.data(), O_CLOEXEC) != 0)) {
    throw std::runtime_error(errnoText("pipe2"));
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    throw std::runtime_error(errnoText("fork"));
  }
  if (pid_ == 0) {
    // Only system calls from here to exec: the parent may have threads.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    if (options.namespaceFd >= 0 && ::setns(options.namespaceFd, CLONE_NEWNS) != 0) {
      ::_exit(126);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(options.pipeStdin ? in[0] : nullIn, STDIN_FILENO);
    ::dup2(options.pipeStdout ? out[1] : logFd, STDOUT_FILENO);
    ::dup2(logFd, STDERR_FILENO);
    ::execve(argp[0], argp.data(), envp.data());
    ::_exit(127);
  }
  ::close(logFd);
  ::close(nullIn);
  if (options.pipeStdin) {
    ::close(in[0]);
    stdin_ = in[1];
  }
  if (options.pipeStdout) {
    ::close(out[1]);
    stdout_ = out[0];
  }
}

ChildProcess::~ChildProcess() {
  stop();
  closeFd(stdin_);
  closeFd(stdout_);
}

bool ChildProcess::running() {
  if (pid_ <= 0) {
    return false;
  }
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return status;
    }
    if (done < 0 && errno != EINTR) {
      pid_ = -1;
      return std::nullopt;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

std::optional<int> ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return std::nullopt;
  }
  const pid_t pid = pid_;
  ::kill(pid, SIGTERM);
  if (auto status = wait(grace)) {
    return status;
  }
  if (pid_ <= 0) {
    return std::nullopt;
  }
  ::kill(pid, SIGKILL);
  return wait(std::chrono::seconds(10));
}

void ChildProcess::writeLine(const std::string& line) {
  if (stdin_ < 0) {
    throw std::logic_error("writeLine: stdin is not a pipe");
  }
  const std::string text = line + "\n";
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(stdin_, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw std::runtime_error(errnoText("writing to the child"));
    }
    written += static_cast<std::size_t>(n);
  }
}

std::optional<std::string> ChildProcess::readLine(std::chrono::milliseconds timeout) {
  if (stdout_ < 0) {
    throw std::logic_error("readLine: stdout is not a pipe");
  }
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (const auto end = pending_.find('\n'); end != std::string::npos) {
      std::string line = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return std::nullopt;
    }
    pollfd fd{stdout_, POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return std::nullopt;
    }
    std::array<char, 256> chunk{};
    const ssize_t n = ::read(stdout_, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return std::nullopt;
    }
    pending_.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

void ChildProcess::closeStdin() {
  closeFd(stdin_);
}

int runToCompletion(const std::vector<std::string>& argv, const SpawnOptions& options,
                    std::chrono::milliseconds timeout) {
  ChildProcess child(argv, options);
  if (const auto status = child.wait(timeout)) {
    return exitCodeOf(*status);
  }
  const auto status = child.stop(std::chrono::milliseconds(500));
  throw std::runtime_error(argv[0] + " did not finish in time" + (status ? " (stopped)" : ""));
}

}  // namespace p2pcp::testing
