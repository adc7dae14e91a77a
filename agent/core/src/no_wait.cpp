// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/no_wait.hpp"

namespace p2pcp::agent {

namespace {
thread_local bool mayWait = true;
}  // namespace

void requireMayWait() {
  if (!mayWait) {
    throw MustNotWait{};
  }
}

std::unique_lock<std::mutex> lockOrDefer(std::mutex& mutex) {
  if (mayWait) {
    return std::unique_lock(mutex);
  }
  std::unique_lock lock(mutex, std::try_to_lock);
  if (!lock.owns_lock()) {
    throw MustNotWait{};
  }
  return lock;
}

NoWaitScope::NoWaitScope() noexcept : previous_(mayWait) {
  mayWait = false;
}

NoWaitScope::~NoWaitScope() {
  mayWait = previous_;
}

}  // namespace p2pcp::agent
