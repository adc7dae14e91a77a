// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/json_rpc.hpp"

namespace p2pcp::agent {

using nlohmann::json;

json resultResponse(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json errorResponse(const json& id, const AgentError& error) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", errorObject(error)}};
}

}  // namespace p2pcp::agent
