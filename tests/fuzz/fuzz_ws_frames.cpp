// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the bytes a browser sends the WebSocket front door after
// the upgrade, as frames: Beast's websocket stream (server role, the front
// door's message limit) reads them as the session does, and every text
// message goes through prepareMessage and the dispatcher as a page of the
// Origin header. A crash or sanitizer report is a bug, and so is a request
// whose caller is not the connection's page, or a reply that is not a
// well-formed JSON-RPC response.
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_agent.hpp"
#include "p2pcp/ws/front_door.hpp"
#include "p2pcp/ws/message.hpp"
#include "p2pcp/ws/upgrade_check.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

p2pcp::ws::UpgradeRequest browserUpgrade() {
  p2pcp::ws::UpgradeRequest request(http::verb::get, "/", 11);
  request.set(http::field::host, "127.0.0.1:7433");
  request.set(http::field::origin, std::string(p2pcp::fuzz::kPairedOrigin));
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  request.set(http::field::sec_websocket_version, "13");
  return request;
}

}  // namespace

// libFuzzer's entry point: the name is libFuzzer's.
// NOLINTNEXTLINE(readability-identifier-naming)
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& dispatcher = p2pcp::fuzz::fuzzDispatcher();
  p2pcp::agent::Caller page;
  page.kind = p2pcp::agent::CallerKind::Page;
  page.origin = std::string(p2pcp::fuzz::kPairedOrigin);
  page.viaWebSocket = true;

  asio::io_context io;
  beast::test::stream client(io);
  websocket::stream<beast::test::stream> server(io);
  server.next_layer().connect(client);
  server.read_message_max(p2pcp::ws::FrontDoorLimits{}.maxMessageBytes);
  boost::system::error_code ec;
  server.accept(browserUpgrade(), ec);
  if (ec) {
    std::abort();
  }
  client.write_some(asio::buffer(data, size), ec);
  client.close();
  for (;;) {
    beast::flat_buffer buffer;
    server.read(buffer, ec);
    if (ec || !server.got_text()) {
      return 0;  // closed, a protocol error, or a binary frame: the session closes
    }
    const std::string text = beast::buffers_to_string(buffer.data());
    auto prepared = p2pcp::ws::prepareMessage(text, page);
    nlohmann::json reply;
    if (auto* request = std::get_if<p2pcp::agent::Request>(&prepared)) {
      if (request->caller.kind != page.kind || request->caller.origin != page.origin ||
          !request->caller.viaWebSocket || request->caller.extension) {
        std::abort();
      }
      auto quick = dispatcher.tryHandleQuickly(*request);
      reply = quick ? std::move(*quick) : dispatcher.handle(*request);
    } else {
      reply = std::get<nlohmann::json>(std::move(prepared));
    }
    p2pcp::fuzz::requireWellFormedReply(reply);
  }
}
