// SPDX-License-Identifier: Apache-2.0
#pragma once
// What `p2pcp status` says about the loopback WebSocket front door (agent/ws):
// off, listening on a port, or the reason it could not listen. Set once by
// main at start-up, read by the status handler on any thread.

#include <nlohmann/json.hpp>

namespace p2pcp::agent {

void setFrontDoorStatus(nlohmann::json status);
// {"state":"off"} until set.
[[nodiscard]] nlohmann::json frontDoorStatus();

}  // namespace p2pcp::agent
