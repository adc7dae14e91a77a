// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/ws/upgrade_check.hpp"

#include <algorithm>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>

#include "p2pcp/agent/origin.hpp"

namespace p2pcp::ws {

namespace http = boost::beast::http;

namespace {

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

UpgradeVerdict refuse(http::status status, std::string reason) {
  UpgradeVerdict verdict;
  verdict.status = status;
  verdict.reason = std::move(reason);
  return verdict;
}

}  // namespace

bool isLoopbackHost(std::string_view host, std::uint16_t port) {
  const std::string suffix = ":" + std::to_string(port);
  if (host.size() <= suffix.size() || !host.ends_with(suffix)) {
    return false;
  }
  const std::string_view name = host.substr(0, host.size() - suffix.size());
  return name == "127.0.0.1" || name == "[::1]" || equalsIgnoringCase(name, "localhost");
}

void limitUpgradeParser(UpgradeParser& parser, std::size_t maxHeaderBytes) {
  parser.header_limit(static_cast<std::uint32_t>(maxHeaderBytes));
  parser.body_limit(0);  // an upgrade request has no body
}

UpgradeVerdict checkUpgrade(const UpgradeRequest& request, std::uint16_t port) {
  if (request.method() != http::verb::get) {
    return refuse(http::status::bad_request, "only GET may open the WebSocket");
  }
  // One Host and one Origin: a second of either would let the checks and the
  // caller read different values.
  if (request.count(http::field::host) != 1) {
    return refuse(http::status::bad_request, "the request needs exactly one Host");
  }
  const auto host = request[http::field::host];
  if (!isLoopbackHost(std::string_view(host.data(), host.size()), port)) {
    // A page on another name that resolves to 127.0.0.1 (DNS rebinding).
    return refuse(http::status::forbidden, "the Host is not this loopback address and port");
  }
  if (request.count(http::field::origin) != 1) {
    return refuse(http::status::forbidden, "the request needs exactly one Origin");
  }
  const std::string origin(request[http::field::origin]);
  if (!agent::isCanonicalWebOrigin(origin)) {
    return refuse(http::status::forbidden, "the Origin is not a web origin");
  }
  if (request.target() != "/") {
    return refuse(http::status::not_found, "the WebSocket is at /");
  }
  if (!boost::beast::websocket::is_upgrade(request)) {
    return refuse(http::status::bad_request, "not a WebSocket upgrade");
  }
  UpgradeVerdict verdict;
  verdict.accepted = true;
  verdict.origin = origin;
  return verdict;
}

}  // namespace p2pcp::ws
