// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/ws/message.hpp"

#include <utility>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_rpc.hpp"

namespace p2pcp::ws {

std::variant<agent::Request, nlohmann::json> prepareMessage(std::string_view text,
                                                            const agent::Caller& page) {
  auto parsed = agent::parseRequest(text);
  if (auto* error = std::get_if<nlohmann::json>(&parsed)) {
    return std::move(*error);
  }
  auto request = std::get<agent::Request>(std::move(parsed));
  const agent::Caller& claimed = request.caller;
  if (claimed.origin || claimed.extension || claimed.ttyName || claimed.display) {
    return agent::errorResponse(
        request.id,
        agent::AgentError(agent::ErrorCode::BadRequest,
                          "a WebSocket request may not name its caller: the origin is the "
                          "browser's Origin header"));
  }
  request.caller = page;
  return request;
}

}  // namespace p2pcp::ws
