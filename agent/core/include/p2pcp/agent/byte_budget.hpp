// SPDX-License-Identifier: Apache-2.0
#pragma once
// The agent-wide budget for bytes of large requests held in memory, used on
// the I/O thread only. A connection that starts a large message reserves the
// whole announced length before it reads any of the body, or queues and reads
// nothing until the budget has room: no connection ever holds part of what it
// needs while waiting for the rest, so waiting connections cannot deadlock.
// Waiters are served strictly in arrival order, so a stream of small large
// messages cannot starve one big one.

#include <cstddef>
#include <deque>
#include <functional>
#include <utility>

namespace p2pcp::agent {

class ByteBudget {
 public:
  explicit ByteBudget(std::size_t capacity) noexcept : available_(capacity) {}

  // Reserves n bytes now if nobody is queued ahead and they are available.
  [[nodiscard]] bool tryReserve(std::size_t n) {
    dropAbandonedWaiters();
    if (!waiters_.empty() || n > available_) {
      return false;
    }
    available_ -= n;
    return true;
  }

  // Queues a reservation of n bytes (n must fit the capacity). `stillWanted`
  // says whether the waiter is still there; `granted` runs once the bytes are
  // reserved on its behalf (from release(), on the I/O thread).
  void wait(std::size_t n, std::function<bool()> stillWanted, std::function<void()> granted) {
    waiters_.push_back({n, std::move(stillWanted), std::move(granted)});
  }

  void release(std::size_t n) {
    available_ += n;
    dropAbandonedWaiters();
    while (!waiters_.empty() && waiters_.front().bytes <= available_) {
      Waiter next = std::move(waiters_.front());
      waiters_.pop_front();
      available_ -= next.bytes;
      next.granted();
      dropAbandonedWaiters();
    }
  }

  [[nodiscard]] std::size_t available() const noexcept { return available_; }

 private:
  struct Waiter {
    std::size_t bytes;
    std::function<bool()> stillWanted;
    std::function<void()> granted;
  };

  void dropAbandonedWaiters() {
    while (!waiters_.empty() && !waiters_.front().stillWanted()) {
      waiters_.pop_front();
    }
  }

  std::size_t available_;
  std::deque<Waiter> waiters_;
};

}  // namespace p2pcp::agent
