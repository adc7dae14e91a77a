// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/pairings.hpp"

#include <openssl/rand.h>

#include <cstdint>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/log.hpp"

namespace p2pcp::agent {

using nlohmann::json;

namespace {

AgentError refusedBefore(const std::string& origin) {
  return {ErrorCode::ConsentDenied,
          "the person refused to pair " + origin + "; they can forget that with `p2pcp pairings " +
              "revoke " + origin + "`",
          {{"remembered", true}}};
}

json paired(const std::string& origin) {
  return {{"paired", true}, {"origin", origin}};
}

}  // namespace

std::string Pairings::drawCode() {
  // Rejection sampling: the values at the top of the 32-bit range that would
  // make the first digits likelier are drawn again.
  constexpr std::uint32_t kRange = 1000000;
  constexpr std::uint32_t kLimit = UINT32_MAX - (UINT32_MAX % kRange);
  std::uint32_t value = 0;
  do {
    unsigned char bytes[4];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      throw AgentError(ErrorCode::Internal, "the random generator failed");
    }
    value = (std::uint32_t{bytes[0]} << 24U) | (std::uint32_t{bytes[1]} << 16U) |
            (std::uint32_t{bytes[2]} << 8U) | std::uint32_t{bytes[3]};
  } while (value >= kLimit);
  std::string digits = std::to_string(value % kRange);
  digits.insert(0, 6 - digits.size(), '0');
  return digits.substr(0, 3) + "-" + digits.substr(3);
}

json Pairings::pair(const Caller& caller, const RequestNotify& notify) {
  if (!caller.isPage() || !caller.viaWebSocket || !caller.origin) {
    throw AgentError(ErrorCode::NotAllowedByPolicy,
                     "only pages of the WebSocket front door pair with the agent");
  }
  const std::string& origin = *caller.origin;
  const auto decided = [&]() -> std::optional<json> {
    if (const auto pairing = store_.find(origin)) {
      if (pairing->state == PairingState::Refused) {
        throw refusedBefore(origin);
      }
      return paired(origin);
    }
    return std::nullopt;
  };
  if (auto answer = decided()) {
    return *answer;
  }
  if (const Standing standing = access_.standingOf(origin); standing.refusal) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, *standing.refusal);  // no dialog in vain
  }
  if (!notify) {
    throw AgentError(ErrorCode::BadRequest, "pairing needs a connection that can show the code");
  }
  // One dialog at a time: a second pair request of the origin waits here and
  // then finds the first one's answer.
  auto turn = dialogs_.take(caller, Dialogs::Kind::Access);
  if (auto answer = decided()) {
    return *answer;
  }
  const std::string code = drawCode();
  // The page shows the code before the dialog asks the person to compare.
  notify("pairingCode", {{"code", code}, {"expiresIn", kCodeLifetimeSeconds}});
  if (!turn.askPairing(code)) {
    store_.record(origin, PairingState::Refused);
    logInfo("pairing refused for " + origin);
    throw AgentError(ErrorCode::ConsentDenied, "the person refused to pair " + origin);
  }
  store_.record(origin, PairingState::Paired);
  logInfo("paired " + origin + " with the WebSocket front door");
  return paired(origin);
}

bool Pairings::revoke(const std::string& origin) {
  const bool forgotten = store_.forget(origin);
  dialogs_.forgive(origin);
  if (forgotten) {
    logInfo("pairing of " + origin + " revoked");
    const std::scoped_lock lock(listenerMutex_);
    if (revoked_) {
      revoked_(origin);
    }
  }
  return forgotten;
}

void Pairings::onRevoked(std::function<void(const std::string& origin)> listener) {
  const std::scoped_lock lock(listenerMutex_);
  revoked_ = std::move(listener);
}

}  // namespace p2pcp::agent
