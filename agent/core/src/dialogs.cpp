#include "p2pcp/agent/dialogs.hpp"

#include <algorithm>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/no_wait.hpp"
#include "p2pcp/agent/prompts.hpp"

namespace p2pcp::agent {

namespace {
constexpr std::size_t kMaxOriginsTracked = 1024;  // origins come from pages: bounded
}  // namespace

Dialogs::Dialogs(const Config& config, DialogLimits limits) : config_(config), limits_(limits) {}

void Dialogs::checkAllowedLocked(const std::string& origin, Clock::time_point now) {
  auto it = origins_.find(origin);
  if (it == origins_.end()) {
    return;
  }
  OriginState& state = it->second;
  while (!state.recent.empty() && now - state.recent.front() >= limits_.window) {
    state.recent.pop_front();
  }
  Clock::time_point until = state.notBefore;
  if (state.recent.size() >= limits_.maxPerWindow) {
    until = std::max(until, state.recent.front() + limits_.window);
  }
  if (now < until) {
    const auto wait = std::chrono::ceil<std::chrono::seconds>(until - now).count();
    throw AgentError(
        ErrorCode::RateLimited,
        origin + " asked too often; it may open another dialog in " + std::to_string(wait) + " s",
        {{"retryAfter", wait}});
  }
}

Dialogs::Turn Dialogs::take(const Caller& caller) {
  requireMayWait();
  if (!caller.isPage() || !caller.origin) {
    return {*this, caller, std::unique_lock(screen_)};
  }
  {
    const std::scoped_lock lock(stateMutex_);
    checkAllowedLocked(*caller.origin, Clock::now());
  }
  std::unique_lock screen(screen_);
  // Again: a refusal may have happened while this request waited for the screen.
  const std::scoped_lock lock(stateMutex_);
  const auto now = Clock::now();
  checkAllowedLocked(*caller.origin, now);
  if (origins_.size() >= kMaxOriginsTracked && !origins_.contains(*caller.origin)) {
    std::erase_if(origins_, [&](const auto& entry) {
      return entry.second.notBefore <= now && entry.second.refusalsInARow == 0;
    });
  }
  origins_[*caller.origin].recent.push_back(now);
  return {*this, caller, std::move(screen)};
}

void Dialogs::recordOutcome(const Caller& caller, bool refused) {
  if (!caller.isPage() || !caller.origin) {
    return;
  }
  const std::scoped_lock lock(stateMutex_);
  OriginState& state = origins_[*caller.origin];
  if (!refused) {
    state.refusalsInARow = 0;
    state.notBefore = {};
    return;
  }
  const unsigned doublings = std::min(state.refusalsInARow, 16U);
  state.refusalsInARow = std::min(state.refusalsInARow + 1, 1000U);
  const std::chrono::seconds cooldown = std::min<std::chrono::seconds>(
      limits_.firstCooldown * (1LL << doublings), limits_.maxCooldown);
  state.notBefore = Clock::now() + cooldown;
  logInfo("dialogs for " + *caller.origin + " paused for " + std::to_string(cooldown.count()) +
          " s after a refusal");
}

std::optional<SecureString> Dialogs::Turn::askPin(const pkcs11::TokenDescription& token,
                                                  const std::string& purpose) {
  auto pin = promptPin(dialogs_.config_, caller_, token, purpose);
  if (pin && pin->empty()) {
    pin.reset();
  }
  dialogs_.recordOutcome(caller_, !pin.has_value());
  return pin;
}

bool Dialogs::Turn::askAccess(Grade grade) {
  // A denial is remembered by the consent store (AccessControl), which refuses
  // the origin without a dialog for a day; it does not also pause the origin's
  // PIN dialogs, so a page refused full access can still work in its own space.
  return askAccessGrade(dialogs_.config_, caller_, grade);
}

}  // namespace p2pcp::agent
