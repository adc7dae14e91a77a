// SPDX-License-Identifier: Apache-2.0
#pragma once
// The listening socket: inherited from systemd (socket activation) or made
// here in a private 0700 directory, guarded by a lock file so that two agents
// started at once (two browsers, two CLI calls) cannot both serve.

#include <filesystem>
#include <optional>
#include <utility>

#include "p2pcp/agent/private_directory.hpp"

namespace p2pcp::agent {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

struct Listener {
  UniqueFd socket;
  UniqueFd lock;  // held for the agent's lifetime (not used when activated)
  bool socketActivated = false;
  std::filesystem::path path;  // removed on exit when we created it
};

// nullopt when another agent already holds the lock for this socket path.
// Throws std::runtime_error on any other failure.
std::optional<Listener> openListener(const std::filesystem::path& socketPath);

}  // namespace p2pcp::agent
