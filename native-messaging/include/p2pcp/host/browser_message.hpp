// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the extension may send through the host, and what it sends on.
//
// The extension sends {"id", "method", "params", "origin"}. "origin" is the
// sender the browser reported to the extension's privileged code: a web
// page's origin, or the extension's own origin for its own pages (the popup).
// Every message through the host is a browser request: the host relays none
// without an origin, marks each with the calling extension's id, relays only
// methods the caller table (p2pcp/agent/access.hpp) lets that kind of caller
// use, and rebuilds the JSON-RPC request from exactly these members, so
// nothing else (a "tty", a second "origin") can reach the agent.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "p2pcp/common/framing.hpp"
#include "p2pcp/host/caller.hpp"

namespace p2pcp::host {

// Browser to host: what a page needs (kMaxBrowserMessage, 4 MiB; docs/browser.md).
// Host to browser: Chromium closes the port above 1 MiB.
inline constexpr std::size_t kMaxFromBrowser = kMaxBrowserMessage;
inline constexpr std::size_t kMaxToBrowser = std::size_t{1024} * 1024U;

struct AgentRequest {
  nlohmann::json message;  // the JSON-RPC request for the agent
};
struct ErrorReply {
  nlohmann::json message;  // the JSON-RPC error to send back to the browser
};

std::variant<AgentRequest, ErrorReply> toAgentRequest(std::string_view text,
                                                      const BrowserCaller& caller);

// Whether `origin` is the calling extension's own origin (its popup):
// chrome-extension://<its id> for Chromium-family browsers; for Firefox a
// moz-extension://<uuid> origin (Firefox gives each installation a random
// uuid the host cannot know; only allowed extensions can reach the host).
bool isOwnExtensionOrigin(std::string_view origin, const BrowserCaller& caller);

}  // namespace p2pcp::host
