// SPDX-License-Identifier: Apache-2.0
#pragma once
// Brings a changed policy file into the running agent (SIGHUP, or the file
// changing: PolicyWatch). A tightened policy applies at once: consents of
// origins it now refuses are revoked, modules it no longer allows are dropped
// with their helpers and logins, shorter cache limits expire logins now, and
// rawSigning or keyGeneration turned off refuse the next request. A malformed
// file puts the agent in the fail-closed state (PolicyHolder) and drops every
// login; a fixed file ends it.

#include <sys/stat.h>

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/policy_holder.hpp"
#include "p2pcp/agent/token_service.hpp"

namespace p2pcp::agent {

class PolicyReloader {
 public:
  PolicyReloader(PolicyHolder& holder, AccessControl& access, TokenService& tokens, Config config,
                 std::filesystem::path helperProgram);

  // Reads the file again and applies it; `why` goes to the log. Never throws.
  // Runs token work (module discovery, logouts): not on the I/O thread.
  void reload(const std::string& why) noexcept;
  // Whether the file differs from the one last reloaded (or loaded at start):
  // a fallback for changes inotify cannot see (the directory did not exist).
  // False while a reload runs.
  [[nodiscard]] bool changedOnDisk() const;

 private:
  // The file as the system sees it: what the path (or its symlink) is, and when
  // it last changed.
  using Signature = std::tuple<bool, dev_t, ino_t, off_t, long, long, ino_t>;
  [[nodiscard]] Signature signature() const;

  PolicyHolder& holder_;
  AccessControl& access_;
  TokenService& tokens_;
  Config config_;
  std::filesystem::path helperProgram_;
  mutable std::mutex mutex_;  // loaded_; one reload at a time
  Signature loaded_;
};

}  // namespace p2pcp::agent
