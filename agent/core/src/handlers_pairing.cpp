// SPDX-License-Identifier: Apache-2.0
// Pairing with the WebSocket front door: a front-door page's pair request, and
// the person's own list and revocations (pairings.hpp).
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/origin.hpp"
#include "p2pcp/agent/params.hpp"

namespace p2pcp::agent {

using nlohmann::json;

json handlePair(RequestContext& context, const json& params) {
  const Params p(params, {});
  return context.pairings.pair(context.caller, context.notify);
}

json handleListPairings(RequestContext& context, const json& params) {
  const Params p(params, {});
  json pairings = json::array();
  for (const auto& pairing : context.pairings.list()) {
    pairings.push_back({{"origin", pairing.origin},
                        {"state", pairingStateName(pairing.state)},
                        {"since", pairing.since}});
  }
  return {{"pairings", std::move(pairings)}};
}

json handleRevokePairing(RequestContext& context, const json& params) {
  const Params p(params, {"origin"});
  const std::string origin = p.string("origin", 512);
  if (!isCanonicalWebOrigin(origin)) {
    badRequest("origin must be a web origin as browsers report it, such as https://app.example");
  }
  return {{"revoked", context.pairings.revoke(origin)}};
}

}  // namespace p2pcp::agent
