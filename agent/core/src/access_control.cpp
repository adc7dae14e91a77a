// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/access_control.hpp"

#include <algorithm>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/origin.hpp"

namespace p2pcp::agent {

namespace {

bool anyMatches(const std::vector<OriginPattern>& patterns, const std::string& origin) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const OriginPattern& pattern) { return pattern.matches(origin); });
}

std::int64_t secondsUntil(std::int64_t epochSeconds) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return std::max<std::int64_t>(0, epochSeconds - now);
}

}  // namespace

Standing AccessControl::standingOf(const std::string& origin) const {
  const auto policy = policy_.current();
  const auto& rules = policy->origins;
  if (anyMatches(rules.block, origin)) {
    return {Grade::None, "the administrator's policy blocks " + origin};
  }
  if (anyMatches(rules.fullAccess, origin)) {
    return {Grade::Full, std::nullopt};
  }
  const bool allowed = anyMatches(rules.allow, origin);
  if (rules.onlyAllowed && !allowed) {
    return {Grade::None, "the administrator's policy does not list " + origin};
  }
  if (const auto consent = consents_.find(origin)) {
    return {consent->grade, std::nullopt};
  }
  return {allowed ? Grade::Site : Grade::None, std::nullopt};
}

Grade AccessControl::admit(const Caller& caller, PageRule rule) {
  const std::string& origin = caller.origin.value();
  const Standing standing = standingOf(origin);
  if (rule == PageRule::Open || rule == PageRule::FrontDoor) {
    return standing.grade;
  }
  if (standing.refusal) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, *standing.refusal);
  }
  if (rule == PageRule::Full) {
    if (standing.grade != Grade::Full) {
      throw AgentError(ErrorCode::NotAllowedByPolicy,
                       "this needs full access, which " + origin +
                           " does not have (a page asks for it with requestAccess)",
                       {{"access", gradeName(standing.grade)}});
    }
    return Grade::Full;
  }
  if (standing.grade != Grade::None) {
    return standing.grade;
  }
  return askFor(caller, Grade::Site);
}

Grade AccessControl::request(const Caller& caller, Grade wanted) {
  const std::string& origin = caller.origin.value();
  const Standing standing = standingOf(origin);
  if (standing.refusal) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, *standing.refusal);
  }
  if (static_cast<int>(standing.grade) >= static_cast<int>(wanted)) {
    return standing.grade;
  }
  if (wanted == Grade::Full && !isPotentiallyTrustworthy(origin)) {
    // Anyone on the network path can pose as a plain http site: it may hold a
    // space of its own, never the person's whole account (unless policy says so).
    throw AgentError(ErrorCode::NotAllowedByPolicy,
                     "full access needs a secure origin (https, or http on this computer); " +
                         origin + " is not one");
  }
  return askFor(caller, wanted);
}

Grade AccessControl::askFor(const Caller& caller, Grade wanted) {
  const std::string& origin = caller.origin.value();
  const auto refuseRemembered = [&](const Denial& denial) {
    const auto wait = secondsUntil(denial.until);
    return AgentError(ErrorCode::ConsentDenied,
                      "the person denied " + origin + " " +
                          (denial.grade == Grade::Full ? "full access" : "access") +
                          "; asking again is possible in " + std::to_string(wait) +
                          " s, or at once after `p2pcp consents revoke " + origin + "`",
                      {{"remembered", true}, {"retryAfter", wait}});
  };
  if (const auto denial = consents_.denialCovering(origin, wanted)) {
    throw refuseRemembered(*denial);
  }
  auto turn = dialogs_.take(caller, Dialogs::Kind::Access);
  // Decided while this request waited for the screen?
  const Standing standing = standingOf(origin);
  if (static_cast<int>(standing.grade) >= static_cast<int>(wanted)) {
    return standing.grade;
  }
  if (const auto denial = consents_.denialCovering(origin, wanted)) {
    throw refuseRemembered(*denial);
  }
  if (!turn.askAccess(wanted)) {
    consents_.deny(origin, wanted, kDenialMemory);
    logInfo(std::string(gradeName(wanted)) + " access denied for " + origin);
    throw AgentError(ErrorCode::ConsentDenied, "the person did not allow " + origin +
                                                   (wanted == Grade::Full ? " full access" : ""));
  }
  const auto previous = consents_.find(origin);
  consents_.grant(origin, wanted, previous ? previous->space : std::nullopt);
  logInfo(std::string(gradeName(wanted)) + " access granted for " + origin);
  return wanted;
}

std::string AccessControl::spaceOf(const std::string& origin) const {
  const auto policy = policy_.current();
  for (const auto& group : policy->origins.sameSpace) {
    if (std::find(group.begin(), group.end(), origin) != group.end()) {
      return group.front();
    }
  }
  if (const auto consent = consents_.find(origin); consent && consent->space) {
    return *consent->space;
  }
  return origin;
}

std::vector<std::string> AccessControl::revokeDisallowed() {
  std::vector<std::string> revoked;
  for (const auto& consent : consents_.list()) {
    if (standingOf(consent.origin).refusal && consents_.revoke(consent.origin)) {
      logInfo("policy no longer allows " + consent.origin + ": its " +
              std::string(gradeName(consent.grade)) + " access is revoked");
      revoked.push_back(consent.origin);
    }
  }
  return revoked;
}

bool AccessControl::revoke(const std::string& origin) {
  const bool revoked = consents_.revoke(origin);
  dialogs_.forgive(origin);
  return revoked;
}

}  // namespace p2pcp::agent
