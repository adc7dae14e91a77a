// SPDX-License-Identifier: Apache-2.0
#pragma once
// When the agent ends by itself (docs/configuration.md, "Lifetime"): an agent
// the CLI started exits after a while with nothing to do, and every agent
// exits once its own program file was replaced or removed (a package upgrade
// or purge), at a moment no request runs, so that socket activation or the
// next CLI call starts the installed program instead of the deleted one.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>

namespace p2pcp::agent {

// The program file this process was started from.
class ExecutableWatch {
 public:
  // Records /proc/self/exe: its path and the file (device, inode) it is.
  ExecutableWatch();
  // True when that file was removed, or another file is at its path now.
  [[nodiscard]] bool replaced() const;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  bool known_ = false;
};

// Counts how long the agent has been idle, as its caller defines idle.
class IdleTimer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit IdleTimer(std::chrono::milliseconds limit) : limit_(limit) {}
  // Called regularly with whether the agent is idle now; true once it has been
  // idle without a break for the limit.
  bool expired(bool idleNow, Clock::time_point now = Clock::now());

 private:
  std::chrono::milliseconds limit_;
  std::optional<Clock::time_point> idleSince_;
};

}  // namespace p2pcp::agent
