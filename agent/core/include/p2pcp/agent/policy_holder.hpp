// SPDX-License-Identifier: Apache-2.0
#pragma once
// The policy the running agent applies, which a reload (SIGHUP, or the file
// changing) replaces while requests run. A reload that finds a malformed file
// does not keep the old policy (it may be the looser one the administrator is
// replacing) and does not crash: the agent fails closed, refusing every
// policy-governed request with NOT_ALLOWED_BY_POLICY and the problem, naming
// the field, until a well-formed file is in place. Thread-safe.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "p2pcp/agent/config.hpp"

namespace p2pcp::agent {

class PolicyHolder {
 public:
  PolicyHolder(Policy initial, std::filesystem::path file)
      : policy_(std::make_shared<const Policy>(std::move(initial))), file_(std::move(file)) {}

  // The policy in force. Throws AgentError(NotAllowedByPolicy) naming the
  // problem while the file is malformed.
  [[nodiscard]] std::shared_ptr<const Policy> current() const;
  // The policy in force, or null while the file is malformed.
  [[nodiscard]] std::shared_ptr<const Policy> tryCurrent() const;
  // Why the policy is not in force; nullopt while it is.
  [[nodiscard]] std::optional<std::string> problem() const;
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

  void replace(Policy policy);
  void markMalformed(std::string problem);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Policy> policy_;  // null while malformed
  std::optional<std::string> problem_;
  std::filesystem::path file_;
};

}  // namespace p2pcp::agent
