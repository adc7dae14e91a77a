#pragma once
// The person's attention, guarded: one pinentry dialog at a time, and a web
// page that keeps having its dialogs refused is made to wait before it may
// open another (it cannot pop up PIN or consent dialogs in a loop). Local
// programs and the extension's own pages are the person themselves and are
// never held back.

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::agent {

struct DialogLimits {
  // After a refused dialog (PIN cancelled, access denied) an origin waits this
  // long before its next dialog, doubling with each refusal in a row...
  std::chrono::seconds firstCooldown{10};
  std::chrono::seconds maxCooldown{600};
  // ... and never opens more than this many dialogs in this window.
  std::size_t maxPerWindow = 10;
  std::chrono::seconds window{600};
};

class Dialogs {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Dialogs(const Config& config, DialogLimits limits = {});

  // Holding a Turn is holding the screen: the one dialog at a time.
  class Turn {
   public:
    Turn(Turn&&) noexcept = default;
    Turn& operator=(Turn&&) = delete;
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    ~Turn() = default;

    // The PIN the person typed, or nullopt when they cancelled. An empty PIN
    // counts as cancelled: sent to the token it could only spend a try.
    std::optional<SecureString> askPin(const pkcs11::TokenDescription& token,
                                       const std::string& purpose);
    // Whether the person grants the caller's origin this grade (site or full).
    bool askAccess(Grade grade);

   private:
    friend class Dialogs;
    Turn(Dialogs& dialogs, const Caller& caller, std::unique_lock<std::mutex> lock)
        : dialogs_(dialogs), caller_(caller), lock_(std::move(lock)) {}
    Dialogs& dialogs_;
    const Caller& caller_;
    std::unique_lock<std::mutex> lock_;
  };

  // Waits for the screen. Throws MustNotWait on a thread that must not wait,
  // and AgentError(RateLimited, data.retryAfter) when the caller's origin must
  // wait before its next dialog.
  Turn take(const Caller& caller);

 private:
  struct OriginState {
    unsigned refusalsInARow = 0;
    Clock::time_point notBefore{};
    std::deque<Clock::time_point> recent;  // dialog start times within the window
  };
  void checkAllowedLocked(const std::string& origin, Clock::time_point now);
  void recordOutcome(const Caller& caller, bool refused);

  const Config& config_;
  DialogLimits limits_;
  std::mutex screen_;      // one dialog at a time
  std::mutex stateMutex_;  // origins_
  std::map<std::string, OriginState> origins_;
};

}  // namespace p2pcp::agent
