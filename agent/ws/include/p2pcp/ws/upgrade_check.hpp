// SPDX-License-Identifier: Apache-2.0
#pragma once
// The checks an HTTP request must pass before the agent upgrades it to a
// WebSocket: GET / as a WebSocket upgrade, one Host naming this loopback port
// (a DNS-rebinding page sends its own host name), one Origin that is a web
// origin as browsers report it (never "null": an opaque origin cannot be
// consented to). A pure function of the request, so a fuzz target can drive it.

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace p2pcp::ws {

using UpgradeRequest = boost::beast::http::request<boost::beast::http::empty_body>;
using UpgradeParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;

// The limits an upgrade request is read with: the request line and headers
// together at most maxHeaderBytes (over: 431), and no body at all (400).
// The session's read buffer is capped at maxHeaderBytes too.
void limitUpgradeParser(UpgradeParser& parser, std::size_t maxHeaderBytes);

struct UpgradeVerdict {
  bool accepted = false;
  boost::beast::http::status status = boost::beast::http::status::ok;  // when refused
  std::string reason;  // for the log and the plain-text refusal body
  std::string origin;  // when accepted: the page's origin
};

// True for "127.0.0.1:PORT", "[::1]:PORT" and "localhost:PORT" (any case) with
// this port, and nothing else.
bool isLoopbackHost(std::string_view host, std::uint16_t port);

UpgradeVerdict checkUpgrade(const UpgradeRequest& request, std::uint16_t port);

}  // namespace p2pcp::ws
