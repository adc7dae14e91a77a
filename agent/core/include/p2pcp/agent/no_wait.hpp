// SPDX-License-Identifier: Apache-2.0
#pragma once
// Whether the current thread may wait: for the person (a PIN or consent
// dialog, a PIN pad) or for a token another thread is using. The agent's I/O
// thread serves short requests itself and must never wait, or every client
// would wait with it; where a request would, MustNotWait is thrown before any
// side effect that a second run would repeat, and the request runs again from
// the start on a worker, where waiting is fine. That keeps a dialog or a slow
// token from stopping the agent, and costs the common request (logged in,
// consent given, token free) no thread hand-off.

#include <mutex>

namespace p2pcp::agent {

// Thrown where a request would wait on a thread that must not. Deliberately
// not a std::exception: the handlers' generic error mapping must never
// swallow it.
struct MustNotWait {};

// Throws MustNotWait on a thread that must not wait.
void requireMayWait();

// Locks `mutex`; on a thread that must not wait, only if it is free (else
// throws MustNotWait).
std::unique_lock<std::mutex> lockOrDefer(std::mutex& mutex);

// Forbids waiting on this thread for its lifetime.
class NoWaitScope {
 public:
  NoWaitScope() noexcept;
  ~NoWaitScope();
  NoWaitScope(const NoWaitScope&) = delete;
  NoWaitScope& operator=(const NoWaitScope&) = delete;
  NoWaitScope(NoWaitScope&&) = delete;
  NoWaitScope& operator=(NoWaitScope&&) = delete;

 private:
  bool previous_;
};

}  // namespace p2pcp::agent
