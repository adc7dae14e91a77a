// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the bytes a client sends the WebSocket front door before
// the upgrade, read as the session reads them (Beast's request parser with
// the session's limits, the buffer capped at the header limit), then the
// front door's checks (checkUpgrade) and Beast's handshake for a request they
// accept. A crash or sanitizer report is a bug, and so is an accepted request
// that is not a GET / upgrade with one loopback Host of this port and one
// canonical web Origin, or a refusal with another status than 400/403/404.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "p2pcp/agent/origin.hpp"
#include "p2pcp/ws/front_door.hpp"
#include "p2pcp/ws/upgrade_check.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using p2pcp::ws::UpgradeRequest;

constexpr std::uint16_t kPort = 7433;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

void checkAccepted(const UpgradeRequest& request, const std::string& origin) {
  require(request.method() == http::verb::get);
  require(request.target() == "/");
  require(request.count(http::field::host) == 1);
  const auto host = request[http::field::host];
  require(p2pcp::ws::isLoopbackHost(std::string_view(host.data(), host.size()), kPort));
  require(request.count(http::field::origin) == 1);
  require(request[http::field::origin] == origin);
  require(p2pcp::agent::isCanonicalWebOrigin(origin));
  require(beast::websocket::is_upgrade(request));
}

}  // namespace

// libFuzzer's entry point: the name is libFuzzer's.
// NOLINTNEXTLINE(readability-identifier-naming)
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::size_t maxHeaderBytes = p2pcp::ws::FrontDoorLimits{}.maxHeaderBytes;
  p2pcp::ws::UpgradeParser parser;
  p2pcp::ws::limitUpgradeParser(parser, maxHeaderBytes);
  // The session's buffer holds at most maxHeaderBytes: what lies beyond is
  // never read (431 if the header is not complete by then).
  const std::string_view bytes(reinterpret_cast<const char*>(data), std::min(size, maxHeaderBytes));
  std::size_t used = 0;
  boost::system::error_code ec;
  while (!parser.is_done() && used < bytes.size()) {
    const std::size_t n = parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (ec == http::error::need_more) {
      return 0;  // the session waits for more, or answers 408
    }
    if (ec) {
      return 0;  // 400 or 431
    }
    if (n == 0) {
      return 0;
    }
    used += n;
  }
  if (!parser.is_done()) {
    return 0;
  }
  const auto verdict = p2pcp::ws::checkUpgrade(parser.get(), kPort);
  if (!verdict.accepted) {
    require(verdict.status == http::status::bad_request ||
            verdict.status == http::status::forbidden || verdict.status == http::status::not_found);
    require(!verdict.reason.empty());
    return 0;
  }
  checkAccepted(parser.get(), verdict.origin);
  // Beast's own handshake checks (key, version) on what the front door let through.
  asio::io_context io;
  beast::test::stream client(io);
  beast::websocket::stream<beast::test::stream> server(io);
  server.next_layer().connect(client);
  server.accept(parser.get(), ec);
  return 0;
}
