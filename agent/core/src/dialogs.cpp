// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/dialogs.hpp"

#include <algorithm>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/no_wait.hpp"
#include "p2pcp/agent/prompts.hpp"

namespace p2pcp::agent {

namespace {

constexpr std::size_t kMaxKeysTracked = 4096;  // keys come from pages: bounded

void forgetOlderThan(std::deque<Dialogs::Clock::time_point>& times,
                     Dialogs::Clock::time_point since) {
  while (!times.empty() && times.front() < since) {
    times.pop_front();
  }
}

AgentError rateLimited(const std::string& why, Dialogs::Clock::duration wait) {
  const auto seconds =
      std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
  return {ErrorCode::RateLimited,
          why + "; another dialog is possible in " + std::to_string(seconds) + " s",
          {{"retryAfter", seconds}}};
}

}  // namespace

Dialogs::Dialogs(const Config& config, DialogLimits limits) : config_(config), limits_(limits) {}

std::vector<std::string> Dialogs::keysOf(const std::string& origin) {
  // origin is canonical: scheme://host[:port]. The site: the scheme and the
  // host's last two labels (IP literals and single labels stand for themselves).
  std::vector<std::string> keys{"origin " + origin};
  const auto schemeEnd = origin.find("://");
  if (schemeEnd == std::string::npos) {
    return keys;
  }
  std::string host = origin.substr(schemeEnd + 3);
  // The port is not part of the site: a bracketed IPv6 host ends at its ']'.
  host = host.substr(0, host.starts_with('[') ? host.find(']') + 1 : host.find(':'));
  const bool name = !host.empty() && !host.starts_with('[') &&
                    std::any_of(host.begin(), host.end(), [](char c) { return c > '9'; });
  if (name) {
    const auto last = host.rfind('.');
    if (last != std::string::npos && last > 0) {
      const auto secondLast = host.rfind('.', last - 1);
      if (secondLast != std::string::npos) {
        host = host.substr(secondLast + 1);
      }
    }
  }
  keys.push_back("site " + origin.substr(0, schemeEnd) + "://" + host);
  return keys;
}

void Dialogs::checkAllowedLocked(const std::string& origin, Kind kind, Clock::time_point now) {
  forgetOlderThan(allPages_, now - limits_.window);
  if (allPages_.size() >= limits_.maxAllPagesPerWindow) {
    throw rateLimited("web pages asked for too many dialogs",
                      allPages_.front() + limits_.window - now);
  }
  for (const auto& key : keysOf(origin)) {
    const auto it = keys_.find(key);
    if (it == keys_.end()) {
      continue;
    }
    KeyState& state = it->second;
    forgetOlderThan(state.shown, now - limits_.window);
    Clock::time_point until = state.notBefore;
    if (kind == Kind::Access) {
      until = std::max(until, state.accessNotBefore);
    }
    if (state.shown.size() >= limits_.maxPerWindow) {
      until = std::max(until, state.shown.front() + limits_.window);
    }
    if (now < until) {
      throw rateLimited(origin + " asked too often", until - now);
    }
  }
}

Dialogs::Turn Dialogs::take(const Caller& caller, Kind kind) {
  requireMayWait();
  if (!caller.isPage() || !caller.origin) {
    return {*this, caller, std::unique_lock(screen_), false};
  }
  {
    const std::scoped_lock lock(stateMutex_);
    checkAllowedLocked(*caller.origin, kind, Clock::now());
    if (pageWaiters_ >= limits_.maxPageWaiters) {
      // Each waiting request holds a worker thread; the person answers one
      // dialog at a time anyway.
      throw rateLimited("too many web page requests wait for the person", std::chrono::seconds(5));
    }
    ++pageWaiters_;
  }
  Turn turn(*this, caller, std::unique_lock(screen_, std::defer_lock), true);
  turn.lock_.lock();
  // Again: a refusal may have happened while this request waited for the screen.
  const std::scoped_lock lock(stateMutex_);
  checkAllowedLocked(*caller.origin, kind, Clock::now());
  return turn;
}

void Dialogs::forgive(const std::string& origin) {
  const std::scoped_lock lock(stateMutex_);
  for (const auto& key : keysOf(origin)) {
    const auto it = keys_.find(key);
    if (it != keys_.end()) {
      it->second = KeyState{.shown = std::move(it->second.shown)};
    }
  }
}

void Dialogs::releaseWaiter() {
  const std::scoped_lock lock(stateMutex_);
  --pageWaiters_;
}

void Dialogs::recordShown(const Caller& caller) {
  if (!caller.isPage() || !caller.origin) {
    return;
  }
  const std::scoped_lock lock(stateMutex_);
  const auto now = Clock::now();
  allPages_.push_back(now);
  if (keys_.size() >= kMaxKeysTracked) {
    std::erase_if(keys_, [&](const auto& entry) {
      return entry.second.notBefore <= now &&
             (entry.second.shown.empty() || entry.second.shown.back() < now - limits_.window);
    });
  }
  for (const auto& key : keysOf(*caller.origin)) {
    keys_[key].shown.push_back(now);
  }
}

void Dialogs::recordOutcome(const Caller& caller, Outcome outcome) {
  if (!caller.isPage() || !caller.origin) {
    return;
  }
  const std::scoped_lock lock(stateMutex_);
  const auto keys = keysOf(*caller.origin);
  const auto pause = [&](unsigned& inARow, Clock::time_point& until, const std::string& key) {
    const unsigned doublings = std::min(inARow, 16U);
    inARow = std::min(inARow + 1, 1000U);
    const std::chrono::seconds cooldown = std::min<std::chrono::seconds>(
        limits_.firstCooldown * (1LL << doublings), limits_.maxCooldown);
    until = Clock::now() + cooldown;
    logInfo("dialogs for " + key + " paused for " + std::to_string(cooldown.count()) +
            " s after a refusal");
  };
  for (const auto& key : keys) {
    KeyState& state = keys_[key];
    switch (outcome) {
      case Outcome::Answered:
        state = KeyState{.shown = std::move(state.shown)};
        break;
      case Outcome::Refused:
        pause(state.refusalsInARow, state.notBefore, key);
        break;
      case Outcome::AccessDenied:
        if (key.starts_with("site ")) {
          pause(state.denialsInARow, state.accessNotBefore, key);
        }
        break;
    }
  }
}

Dialogs::Turn::Turn(Turn&& other) noexcept
    : dialogs_(std::exchange(other.dialogs_, nullptr)),
      caller_(other.caller_),
      lock_(std::move(other.lock_)),
      waiter_(std::exchange(other.waiter_, false)) {}

Dialogs::Turn::~Turn() {
  if (waiter_ && dialogs_ != nullptr) {
    dialogs_->releaseWaiter();
  }
}

std::optional<SecureString> Dialogs::Turn::askPin(const pkcs11::TokenDescription& token,
                                                  const std::string& purpose) {
  dialogs_->recordShown(caller_);
  std::optional<SecureString> pin;
  try {
    pin = promptPin(dialogs_->config_, caller_, token, purpose);
  } catch (...) {
    dialogs_->recordOutcome(caller_, Outcome::Refused);  // failed or timed out: nobody answered
    throw;
  }
  if (pin && pin->empty()) {
    pin.reset();
  }
  dialogs_->recordOutcome(caller_, pin ? Outcome::Answered : Outcome::Refused);
  return pin;
}

bool Dialogs::Turn::askAccess(Grade grade) {
  dialogs_->recordShown(caller_);
  bool granted = false;
  try {
    granted = askAccessGrade(dialogs_->config_, caller_, grade);
  } catch (...) {
    dialogs_->recordOutcome(caller_, Outcome::Refused);
    throw;
  }
  dialogs_->recordOutcome(caller_, granted ? Outcome::Answered : Outcome::AccessDenied);
  return granted;
}

bool Dialogs::Turn::askPairing(const std::string& code) {
  dialogs_->recordShown(caller_);
  bool paired = false;
  try {
    paired = confirmPairing(dialogs_->config_, caller_, code);
  } catch (...) {
    dialogs_->recordOutcome(caller_, Outcome::Refused);
    throw;
  }
  dialogs_->recordOutcome(caller_, paired ? Outcome::Answered : Outcome::AccessDenied);
  return paired;
}

void Dialogs::Turn::onPinPad(const std::function<void()>& login) {
  dialogs_->recordShown(caller_);
  try {
    login();
  } catch (...) {
    dialogs_->recordOutcome(caller_, Outcome::Refused);
    throw;
  }
  dialogs_->recordOutcome(caller_, Outcome::Answered);
}

}  // namespace p2pcp::agent
