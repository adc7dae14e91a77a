// SPDX-License-Identifier: Apache-2.0
#pragma once
// One front-door message (the text of one WebSocket text message) as the
// dispatcher takes it. A pure function of the text and the connection's page,
// so a fuzz target can drive it without a socket.

#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/dispatcher.hpp"

namespace p2pcp::ws {

// The request with `page` (the connection's Origin header) as its caller, or
// the JSON-RPC error reply for the text: malformed, or naming a caller itself
// (on this door the browser's Origin header is the only word on who asks).
std::variant<agent::Request, nlohmann::json> prepareMessage(std::string_view text,
                                                            const agent::Caller& page);

}  // namespace p2pcp::ws
