// SPDX-License-Identifier: Apache-2.0
#pragma once
// JSON-RPC 2.0 response objects, shared by the agent and the native host.

#include <nlohmann/json.hpp>

#include "p2pcp/agent/errors.hpp"

namespace p2pcp::agent {

nlohmann::json resultResponse(const nlohmann::json& id, nlohmann::json result);
nlohmann::json errorResponse(const nlohmann::json& id, const AgentError& error);

}  // namespace p2pcp::agent
