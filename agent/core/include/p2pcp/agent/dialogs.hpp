// SPDX-License-Identifier: Apache-2.0
#pragma once
// The person's attention, guarded: one pinentry dialog at a time, and web
// pages cannot make dialogs reappear in a loop or tie up the agent waiting
// for them. Local programs and the extension's own pages are the person
// themselves and are never held back.
//
// For pages the limits apply per origin and per site (the host's last two
// labels, so throwaway subdomains of one domain count together), and to all
// pages together: after a refused dialog (PIN cancelled or timed out, access
// denied) the next one waits, doubling with each refusal in a row; no key
// opens more than a set number of dialogs in a window; and only a few page
// requests may wait for the screen at once, so requests waiting for the
// person never hold every worker thread.

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::agent {

struct DialogLimits {
  // After a refused dialog the origin (and its site) waits this long before its
  // next dialog, doubling with each refusal in a row up to maxCooldown...
  std::chrono::seconds firstCooldown{10};
  std::chrono::seconds maxCooldown{600};
  // ... no origin or site opens more than this many dialogs in the window...
  std::size_t maxPerWindow = 10;
  // ... nor all pages together more than this many...
  std::size_t maxAllPagesPerWindow = 30;
  std::chrono::seconds window{600};
  // ... and at most this many page requests wait for (or hold) the screen.
  std::size_t maxPageWaiters = 3;
};

class Dialogs {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Dialogs(const Config& config, DialogLimits limits = {});

  // Holding a Turn is holding the screen: the one dialog at a time.
  class Turn {
   public:
    Turn(Turn&& other) noexcept;
    Turn& operator=(Turn&&) = delete;
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    ~Turn();

    // The PIN the person typed, or nullopt when they cancelled. An empty PIN
    // counts as cancelled: sent to the token it could only spend a try. A
    // dialog that fails or times out counts as refused.
    std::optional<SecureString> askPin(const pkcs11::TokenDescription& token,
                                       const std::string& purpose);
    // Whether the person grants the caller's origin this grade (site or full access).
    bool askAccess(Grade grade);
    // Whether the person pairs the caller's origin with the WebSocket front
    // door, comparing `code` with the one its page shows. A refusal counts
    // like a denied access (its site's dialogs pause).
    bool askPairing(const std::string& code);
    // A login on the reader's PIN pad, counted like a dialog: `login` throws
    // when the person cancels there.
    void onPinPad(const std::function<void()>& login);

   private:
    friend class Dialogs;
    Turn(Dialogs& dialogs, const Caller& caller, std::unique_lock<std::mutex> lock, bool waiter)
        : dialogs_(&dialogs), caller_(caller), lock_(std::move(lock)), waiter_(waiter) {}
    Dialogs* dialogs_;
    const Caller& caller_;
    std::unique_lock<std::mutex> lock_;
    bool waiter_;  // holds one of the page waiter slots
  };

  enum class Kind { Pin, Access };

  // Waits for the screen, for a dialog of this kind. Throws MustNotWait on a
  // thread that must not wait, and AgentError(RateLimited, data.retryAfter)
  // when the caller's origin or site must wait before its next dialog, or too
  // many pages already wait.
  Turn take(const Caller& caller, Kind kind = Kind::Pin);

  // The person forgot what they decided for this origin (revoked its consent
  // or its remembered denial): its pauses, and its site's, end now. The count
  // of dialogs shown in the window stays, so this opens no loop.
  void forgive(const std::string& origin);

 private:
  struct KeyState {
    unsigned refusalsInARow = 0;
    Clock::time_point notBefore{};
    // Access dialogs of the whole site pause after a denial, so throwaway
    // subdomains cannot ask in turn (the denied origin itself is remembered by
    // the consent store).
    unsigned denialsInARow = 0;
    Clock::time_point accessNotBefore{};
    std::deque<Clock::time_point> shown;  // dialogs shown within the window
  };
  enum class Outcome { Answered, Refused, AccessDenied };

  // The rate-limit keys of a page: its origin and its site.
  static std::vector<std::string> keysOf(const std::string& origin);
  void checkAllowedLocked(const std::string& origin, Kind kind, Clock::time_point now);
  void recordShown(const Caller& caller);
  void recordOutcome(const Caller& caller, Outcome outcome);
  void releaseWaiter();

  const Config& config_;
  DialogLimits limits_;
  std::mutex screen_;      // one dialog at a time
  std::mutex stateMutex_;  // keys_, allPages_, pageWaiters_
  std::map<std::string, KeyState> keys_;
  std::deque<Clock::time_point> allPages_;  // every page dialog shown within the window
  std::size_t pageWaiters_ = 0;
};

}  // namespace p2pcp::agent
