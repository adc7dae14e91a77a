#pragma once
// What the extension may send through the host, and what it sends on.
//
// The extension sends {"id", "method", "params", "origin"}: "origin" is the
// sender origin the browser reported to the extension's privileged code,
// absent for the extension's own popup. The host rebuilds a JSON-RPC request
// from exactly these members, so nothing else (a "tty", a "display", a second
// "origin") can reach the agent from the browser.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

namespace p2pcp::host {

// Browser to host: what a page needs, 4 MiB (docs/browser.md, "Message
// sizes"); the browser's own cap is 4 GiB (Firefox). Host to browser:
// Chromium closes the port above 1 MiB.
inline constexpr std::size_t kMaxFromBrowser = 4U * 1024U * 1024U;
inline constexpr std::size_t kMaxToBrowser = 1024U * 1024U;

struct AgentRequest {
  nlohmann::json message;  // the JSON-RPC request for the agent
};
struct ErrorReply {
  nlohmann::json message;  // the JSON-RPC error to send back to the browser
};

std::variant<AgentRequest, ErrorReply> toAgentRequest(std::string_view text);

}  // namespace p2pcp::host
