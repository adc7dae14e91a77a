// SPDX-License-Identifier: Apache-2.0
#pragma once
// The protocol's methods (docs/protocol.md). Who may call each one is in the
// caller table (access.hpp), which the dispatcher applies before a handler
// runs; each handler checks its params, does one job through the
// TokenService, and returns the result object.

#include <nlohmann/json.hpp>
#include <string_view>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/pairings.hpp"
#include "p2pcp/agent/token_service.hpp"

namespace p2pcp::agent {

// Where a method runs. Token work never runs on the I/O thread (it is a round
// trip to a helper process, or a slow card's time). Short: tried on the I/O
// thread first, and moved to a worker the moment it would touch a token or
// wait (MustNotWait), so that answers from the agent's own state (hello,
// consents, a public storage key) cost no thread hand-off. Long: the method
// always works with a token (signatures, login, listings, key generation), so
// it goes to a worker at once instead of being tried and moved.
enum class Duration { Short, Long };

// What a handler works with: the services, who asks, and the grade the caller
// holds for this request (a page's grade; local programs act as the person
// and hold Full; the extension's pages hold None: no p2pcp operation is theirs).
struct RequestContext {
  TokenService& tokens;
  AccessControl& access;
  const Caller& caller;
  Grade grade;
  Pairings& pairings;
  // A notification about this request on its connection (tagged with its id);
  // empty where the connection cannot carry one (the Unix socket).
  RequestNotify notify;
};

struct Handler {
  std::string_view name;
  Duration duration;
  nlohmann::json (*run)(RequestContext& context, const nlohmann::json& params);
};

// nullptr for a method without a handler.
const Handler* findHandler(std::string_view name) noexcept;

// Handler functions, grouped by file.
nlohmann::json handleHello(RequestContext& context, const nlohmann::json& params);
// handleHello's result for a local program or the extension (never a page:
// its answer depends on its grade), as JSON text made once.
const std::string& helloResultText(CallerKind kind);
nlohmann::json handleSubscribe(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleStatus(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleListTokens(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleListKeys(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleSetDefaultKey(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleGetPublicKey(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleLogin(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleLock(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleGenerateKey(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleRequestAccess(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleListConsents(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleGrantConsent(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleRevokeConsent(RequestContext& context, const nlohmann::json& params);
nlohmann::json handlePair(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleListPairings(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleRevokePairing(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleDeriveStorageKey(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleSignBlock(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleSignLogin(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleSeal(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleOpen(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleSign(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleDeriveStorageKeys(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleSignBlocks(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleSealMany(RequestContext& context, const nlohmann::json& params);
nlohmann::json handleOpenMany(RequestContext& context, const nlohmann::json& params);

// hello's "batchLimits": the most items (and bytes) one bulk call takes.
nlohmann::json batchLimits();

}  // namespace p2pcp::agent
