// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/policy_holder.hpp"

#include "p2pcp/agent/errors.hpp"

namespace p2pcp::agent {

std::shared_ptr<const Policy> PolicyHolder::current() const {
  const std::scoped_lock lock(mutex_);
  if (!policy_) {
    throw AgentError(ErrorCode::NotAllowedByPolicy,
                     "the administrator's policy is malformed, so the agent refuses this until "
                     "it is fixed: " +
                         problem_.value_or("unknown problem"),
                     {{"policyError", problem_.value_or("")}});
  }
  return policy_;
}

std::shared_ptr<const Policy> PolicyHolder::tryCurrent() const {
  const std::scoped_lock lock(mutex_);
  return policy_;
}

std::optional<std::string> PolicyHolder::problem() const {
  const std::scoped_lock lock(mutex_);
  return problem_;
}

void PolicyHolder::replace(Policy policy) {
  auto next = std::make_shared<const Policy>(std::move(policy));
  const std::scoped_lock lock(mutex_);
  policy_ = std::move(next);
  problem_.reset();
}

void PolicyHolder::markMalformed(std::string problem) {
  const std::scoped_lock lock(mutex_);
  policy_.reset();
  problem_ = std::move(problem);
}

}  // namespace p2pcp::agent
