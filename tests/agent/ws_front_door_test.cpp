// SPDX-License-Identifier: Apache-2.0
// The loopback WebSocket front door (agent/ws) of a real agent on SoftHSM2,
// driven by a Boost.Beast client: off by default, refused before the upgrade
// for a rebinding Host or a missing or opaque Origin, and after it the same
// dispatcher as the extension path, with the Origin header as the page.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"
#include "dos_kit.hpp"
#include "p2pcp/agent/access.hpp"
#include "p2pcp/ws/upgrade_check.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using p2pcp::testing::AgentHarness;
using p2pcp::testing::AgentSetup;

#define SKIP_WITHOUT_SOFTHSM()                              \
  if (auto missing = AgentHarness::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                               \
  }

// A port nothing listens on right now (the kernel's choice, released at once).
std::uint16_t freePort() {
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return probe.local_endpoint().port();
}

bool somethingListens(std::uint16_t port) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
  return !ec;
}

// Sends `request` as it is and returns everything the agent answers until it
// closes (at most 5 s), or its answer's head when it upgrades.
std::string rawExchangeOn(const asio::ip::address& address, std::uint16_t port,
                          const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(address, port));
  const timeval timeout{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  asio::write(socket, asio::buffer(request));
  std::string answer;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::recv(socket.native_handle(), chunk, sizeof chunk, 0);
    if (n <= 0) {
      break;
    }
    answer.append(chunk, static_cast<std::size_t>(n));
    if (answer.starts_with("HTTP/1.1 101 ") && answer.find("\r\n\r\n") != std::string::npos) {
      break;  // upgraded: the agent now waits for frames
    }
  }
  return answer;
}

std::string rawExchange(std::uint16_t port, const std::string& request) {
  return rawExchangeOn(asio::ip::address_v4::loopback(), port, request);
}

std::string upgradeRequest(const std::string& host, const std::optional<std::string>& origin,
                           const std::string& target = "/") {
  std::string text = "GET " + target + " HTTP/1.1\r\nHost: " + host +
                     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n";
  if (origin) {
    text += "Origin: " + *origin + "\r\n";
  }
  return text + "\r\n";
}

std::string statusLine(const std::string& answer) {
  return answer.substr(0, answer.find("\r\n"));
}

// A browser's side of the front door. Every wait has a deadline: a reply
// that never comes fails the test at once instead of at the ctest timeout
// (SO_RCVTIMEO does not bound Asio's reads, which poll again on EAGAIN).
class PageClient {
 public:
  static constexpr std::chrono::milliseconds kWait{10000};

  PageClient(std::uint16_t port, const std::string& origin) : ws_(io_) {
    check(run([&](auto done) {
            beast::get_lowest_layer(ws_).async_connect(
                tcp::endpoint(asio::ip::address_v4::loopback(), port), done);
          }),
          "connect");
    ws_.set_option(websocket::stream_base::decorator(
        [origin](websocket::request_type& request) { request.set(http::field::origin, origin); }));
    check(run([&](auto done) {
            ws_.async_handshake("127.0.0.1:" + std::to_string(port), "/", done);
          }),
          "upgrade");
  }
  void sendText(const std::string& text) {
    ws_.text(true);
    check(run([&](auto done) { ws_.async_write(asio::buffer(text), done); }), "write");
  }
  void sendBinary(const std::string& bytes) {
    ws_.binary(true);
    check(run([&](auto done) { ws_.async_write(asio::buffer(bytes), done); }), "write");
  }
  // The next message, or nullopt when none comes within `within` (the
  // connection is then unusable: the read was cancelled).
  std::optional<json> tryReceive(std::chrono::milliseconds within = kWait) {
    beast::flat_buffer buffer;
    const auto ec = run([&](auto done) { ws_.async_read(buffer, done); }, within);
    if (ec == asio::error::timed_out) {
      return std::nullopt;
    }
    check(ec, "read");
    return json::parse(beast::buffers_to_string(buffer.data()));
  }
  json receive(std::chrono::milliseconds within = kWait) {
    auto message = tryReceive(within);
    if (!message) {
      throw std::runtime_error("no message from the front door within " +
                               std::to_string(within.count()) + " ms");
    }
    return std::move(*message);
  }
  json call(const std::string& method, const json& params = json::object(),
            const json& extra = json::object()) {
    sendText(request(method, params, extra).dump());
    return receive();
  }
  json request(const std::string& method, const json& params = json::object(),
               const json& extra = json::object()) {
    json message = {{"jsonrpc", "2.0"}, {"id", ++id_}, {"method", method}, {"params", params}};
    message.update(extra);
    return message;
  }
  // Reads until the agent closes (within `within`); the error the read ends with.
  boost::system::error_code readUntilClosed(std::chrono::milliseconds within = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (!ec) {
      buffer.clear();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      ec = run([&](auto done) { ws_.async_read(buffer, done); },
               std::max(left, std::chrono::milliseconds(1)));
    }
    if (ec == asio::error::timed_out) {
      throw std::runtime_error("the front door did not close the connection within " +
                               std::to_string(within.count()) + " ms");
    }
    return ec;
  }
  [[nodiscard]] websocket::close_reason closeReason() const { return ws_.reason(); }
  tcp::socket& socket() { return beast::get_lowest_layer(ws_).socket(); }

 private:
  // Runs one asynchronous operation to its end or to the deadline, when it is
  // cancelled and timed_out is returned.
  template <class Start>
  boost::system::error_code run(Start start, std::chrono::milliseconds within = kWait) {
    std::optional<boost::system::error_code> result;
    start([&result](const boost::system::error_code& ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run_for(within);
    if (result) {
      return *result;
    }
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().cancel(ignored);
    io_.restart();
    io_.run();  // the cancelled handler runs
    return asio::error::timed_out;
  }
  static void check(const boost::system::error_code& ec, const char* what) {
    if (ec) {
      throw boost::system::system_error(ec, std::string("front door client: ") + what);
    }
  }

  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  long long id_ = 0;
};

// The checks before the upgrade, without a socket (upgrade_check.hpp).
p2pcp::ws::UpgradeRequest upgrade(const std::string& host, const std::string& origin) {
  p2pcp::ws::UpgradeRequest request(http::verb::get, "/", 11);
  request.set(http::field::host, host);
  request.set(http::field::origin, origin);
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  request.set(http::field::sec_websocket_version, "13");
  return request;
}

TEST(UpgradeCheck, OnlyTheLoopbackNamesWithThisPort) {
  using p2pcp::ws::isLoopbackHost;
  EXPECT_TRUE(isLoopbackHost("127.0.0.1:7433", 7433));
  EXPECT_TRUE(isLoopbackHost("[::1]:7433", 7433));
  EXPECT_TRUE(isLoopbackHost("LOCALHOST:7433", 7433));
  for (const char* host : {"127.0.0.1", "127.0.0.1:74330", "127.0.0.1:433", "127.0.0.2:7433",
                           "::1:7433", "[::1]", "localhost.:7433", "x.localhost:7433", "127.1:7433",
                           "2130706433:7433", ":7433", "", "127.0.0.1:07433"}) {
    EXPECT_FALSE(isLoopbackHost(host, 7433)) << host;
  }
}

TEST(UpgradeCheck, TheOriginHeaderBecomesTheCaller) {
  const auto verdict =
      p2pcp::ws::checkUpgrade(upgrade("127.0.0.1:7433", "https://app.example"), 7433);
  EXPECT_TRUE(verdict.accepted) << verdict.reason;
  EXPECT_EQ(verdict.origin, "https://app.example");
  auto twoOrigins = upgrade("127.0.0.1:7433", "https://app.example");
  twoOrigins.insert(http::field::origin, "https://evil.example");
  EXPECT_EQ(p2pcp::ws::checkUpgrade(twoOrigins, 7433).status, http::status::forbidden);
  auto post = upgrade("127.0.0.1:7433", "https://app.example");
  post.method(http::verb::post);
  EXPECT_EQ(p2pcp::ws::checkUpgrade(post, 7433).status, http::status::bad_request);
  auto plain = upgrade("127.0.0.1:7433", "https://app.example");
  plain.erase(http::field::upgrade);
  EXPECT_EQ(p2pcp::ws::checkUpgrade(plain, 7433).status, http::status::bad_request);
}

class FrontDoor : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_SOFTHSM();
    harness_ = std::make_unique<AgentHarness>(setup_);
  }
  // Restarts the agent with `"webSocket": {"port": port}` in agent.json.
  // `paired`: origins the person paired before (pairings.json, as the agent writes it).
  void openDoor(std::uint16_t port, const std::vector<std::string>& paired = {}) {
    port_ = port;
    const auto dir = harness_->home() / "config" / "p2pcp";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "agent.json") << json{{"webSocket", {{"port", port}}}}.dump();
    if (!paired.empty()) {
      json entries = json::array();
      for (const auto& origin : paired) {
        entries.push_back({{"origin", origin}, {"state", "paired"}, {"since", 1700000000}});
      }
      std::ofstream(dir / "pairings.json") << json{{"version", 1}, {"pairings", entries}}.dump();
    }
    harness_->restart(setup_);
    // The harness returns once the Unix socket accepts, which it does before
    // the agent's loop runs; a reply means the front door was opened (or not).
    (void)status();
  }
  json status() {
    auto agent = harness_->connect();
    return agent.call("status");
  }
  // Restarts the agent with the door as it is configured, and waits for its loop.
  void restartAgent() {
    harness_->restart(setup_);
    (void)status();
  }
  // A local program's call (the CLI's), its result or its error.
  json local(const std::string& method, const json& params = json::object()) {
    auto agent = harness_->connect();
    try {
      return {{"result", agent.call(method, params)}};
    } catch (const p2pcp::client::AgentCallError& e) {
      return {{"error", e.error()}};
    }
  }
  [[nodiscard]] std::filesystem::path pairingFile() const {
    return harness_->home() / "config" / "p2pcp" / "pairings.json";
  }
  // The front door's line of `p2pcp status` (human output).
  std::string statusLineOfCli() {
    const auto run = harness_->run({P2PCP_CLI_PROGRAM, "status"});
    EXPECT_EQ(run.exitCode, 0) << run.output;
    const auto at = run.output.find("WebSocket front door: ");
    return at == std::string::npos ? run.output
                                   : run.output.substr(at, run.output.find('\n', at) - at);
  }
  AgentSetup setup_;
  std::unique_ptr<AgentHarness> harness_;
  std::uint16_t port_ = 0;
};

TEST_F(FrontDoor, IsOffByDefault) {
  EXPECT_EQ(status()["webSocket"], json({{"state", "off"}}));
  EXPECT_EQ(statusLineOfCli(), "WebSocket front door: off");
}

TEST_F(FrontDoor, ThePolicyCanForbidIt) {
  setup_.policy = json{{"webSocket", false}};
  const std::uint16_t port = freePort();
  openDoor(port);
  EXPECT_FALSE(somethingListens(port));
  const json state = status()["webSocket"];
  EXPECT_EQ(state["state"], "forbidden") << state.dump();
  EXPECT_EQ(statusLineOfCli(),
            "WebSocket front door: forbidden: the administrator's policy forbids it "
            "(\"webSocket\": false) (agent.json asks for port " +
                std::to_string(port) + ")");
}

// The administrator's policy can turn the door on by itself, and its port
// wins over the person's.
TEST_F(FrontDoor, ThePolicyCanTurnItOnAtItsPort) {
  const std::uint16_t port = freePort();
  setup_.policy = json{{"webSocket", {{"port", port}}}};
  harness_->restart(setup_);  // no agent.json at all
  const json state = status()["webSocket"];
  EXPECT_EQ(state["state"], "listening") << state.dump();
  EXPECT_EQ(state["port"], port);
  EXPECT_EQ(state["setBy"], "policy");
  EXPECT_EQ(statusLineOfCli(),
            "WebSocket front door: listening on ws://127.0.0.1:" + std::to_string(port) +
                " (turned on by the administrator's policy)");
  PageClient page(port, "https://app.example");
  EXPECT_TRUE(page.call("hello").contains("result"));
  // agent.json names another port: the policy's stays.
  openDoor(freePort());
  EXPECT_EQ(status()["webSocket"]["port"], port);
  EXPECT_FALSE(somethingListens(port_)) << "the person's port is not opened as well";
  PageClient again(port, "https://app.example");
  EXPECT_TRUE(again.call("hello").contains("result"));
}

// "webSocket": {} turns the door on at the documented default port (24872,
// docs/configuration.md), the port P2pcpWs.connect() tries without one: a page
// need not ask the person for a number. The same for the policy's {}.
TEST_F(FrontDoor, AnEmptyWebSocketObjectListensOnTheDefaultPort) {
  constexpr std::uint16_t kDefaultPort = 24872;
  {
    // A fixed port can be taken on a developer's machine: skip rather than fail.
    asio::io_context io;
    tcp::acceptor probe(io);
    boost::system::error_code ec;
    probe.open(tcp::v4(), ec);
    if (!ec) {
      // As the agent binds it: a connection of an earlier run in TIME_WAIT is no owner.
      probe.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
      probe.bind(tcp::endpoint(asio::ip::address_v4::loopback(), kDefaultPort), ec);
    }
    if (ec) {
      GTEST_SKIP() << "port " << kDefaultPort << " (the front door's default) is taken on this "
                   << "machine, so this test cannot run here: " << ec.message();
    }
  }
  const auto dir = harness_->home() / "config" / "p2pcp";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "agent.json") << R"({"webSocket": {}})";
  restartAgent();
  json state = status()["webSocket"];
  EXPECT_EQ(state["state"], "listening") << state.dump();
  EXPECT_EQ(state["port"], kDefaultPort);
  EXPECT_EQ(state["setBy"], "agent.json");
  EXPECT_EQ(statusLineOfCli(), "WebSocket front door: listening on ws://127.0.0.1:24872");
  {
    PageClient page(kDefaultPort, "https://app.example");
    EXPECT_TRUE(page.call("hello").contains("result"));
  }
  std::filesystem::remove(dir / "agent.json");
  setup_.policy = json{{"webSocket", json::object()}};
  restartAgent();
  state = status()["webSocket"];
  EXPECT_EQ(state["state"], "listening") << state.dump();
  EXPECT_EQ(state["port"], kDefaultPort);
  EXPECT_EQ(state["setBy"], "policy");
  PageClient page(kDefaultPort, "https://app.example");
  EXPECT_TRUE(page.call("hello").contains("result"));
}

TEST_F(FrontDoor, APolicyReloadThatForbidsItClosesIt) {
  openDoor(freePort());
  PageClient page(port_, "https://app.example");
  ASSERT_TRUE(page.call("hello").contains("result"));
  std::ofstream(harness_->home() / "policy.json", std::ios::trunc) << R"({"webSocket": false})";
  ASSERT_EQ(::kill(harness_->pid(), SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (status()["webSocket"]["state"] != "forbidden" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status()["webSocket"]["state"], "forbidden");
  EXPECT_FALSE(somethingListens(port_));
  (void)page.readUntilClosed();  // the open connection ends too
}

TEST_F(FrontDoor, RefusesARebindingHostWithoutUpgrading) {
  openDoor(freePort());
  const std::string port = std::to_string(port_);
  for (const std::string& host :
       std::vector<std::string>{"evil.example:" + port, "127.0.0.1:" + std::to_string(port_ + 1),
                                "127.0.0.1", "localhost.evil.example:" + port}) {
    const std::string answer = rawExchange(port_, upgradeRequest(host, "https://app.example"));
    EXPECT_EQ(statusLine(answer), "HTTP/1.1 403 Forbidden") << host << "\n" << answer;
  }
  const std::string twoHosts = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + port +
                               "\r\nHost: evil.example\r\nOrigin: https://app.example\r\n\r\n";
  EXPECT_EQ(statusLine(rawExchange(port_, twoHosts)), "HTTP/1.1 400 Bad Request");
}

TEST_F(FrontDoor, RefusesAMissingOrOpaqueOrigin) {
  openDoor(freePort());
  const std::string host = "127.0.0.1:" + std::to_string(port_);
  const std::vector<std::optional<std::string>> origins = {
      std::nullopt, "null", "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
      "https://App.example/"};
  for (const auto& origin : origins) {
    const std::string answer = rawExchange(port_, upgradeRequest(host, origin));
    EXPECT_EQ(statusLine(answer), "HTTP/1.1 403 Forbidden") << origin.value_or("(none)");
  }
}

TEST_F(FrontDoor, RefusesOtherPathsAndHugeHeaders) {
  openDoor(freePort());
  const std::string host = "localhost:" + std::to_string(port_);
  EXPECT_EQ(statusLine(rawExchange(port_, upgradeRequest(host, "https://app.example", "/x"))),
            "HTTP/1.1 404 Not Found");
  std::string huge = upgradeRequest(host, "https://app.example");
  huge.insert(huge.size() - 2, "X-Padding: " + std::string(16000, 'a') + "\r\n");
  EXPECT_EQ(statusLine(rawExchange(port_, huge)), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(statusLine(rawExchange(port_, "BREW / HTCPCP/1.0\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
}

TEST_F(FrontDoor, AGoodUpgradeIsAPageOfItsOrigin) {
  openDoor(freePort(), {"https://app.example"});
  PageClient page(port_, "https://app.example");
  const json hello = page.call("hello");
  ASSERT_TRUE(hello.contains("result")) << hello.dump();
  EXPECT_EQ(hello["result"]["access"], "none");
  EXPECT_EQ(hello["result"]["paired"], true);
  EXPECT_EQ(hello["result"]["methods"], json({"hello", "subscribe", "requestAccess", "pair"}))
      << "a paired page without consent sees only the open methods";
  EXPECT_EQ(status()["webSocket"]["state"], "listening");
  EXPECT_EQ(statusLineOfCli(),
            "WebSocket front door: listening on ws://127.0.0.1:" + std::to_string(port_));
}

// The outcome of deriveStorageKey for https://app.example through the native
// host's path (the Unix socket with an origin member) or the front door.
json deriveViaHost(AgentHarness& harness, const json& params) {
  auto agent = harness.connect();
  try {
    return {
        {"result", agent.call("deriveStorageKey", params, {{"origin", "https://app.example"}})}};
  } catch (const p2pcp::client::AgentCallError& e) {
    return {{"error", e.error()}};
  }
}

json privateNotes(AgentHarness& harness) {
  return {{"kind", "private"}, {"uri", "/notes"}, {"key", harness.keyFingerprint("ed25519")}};
}

// Without consent the person is asked, naming the Origin header; the refusal
// is remembered for the origin in the one consent store both doors share, and
// then answered the same on either door without asking again.
TEST_F(FrontDoor, APageMethodWithoutConsentFailsAsOnTheExtensionPath) {
  setup_.confirm = "no";
  openDoor(freePort(), {"https://app.example"});
  PageClient page(port_, "https://app.example");
  const json first = page.call("deriveStorageKey", privateNotes(*harness_));
  ASSERT_TRUE(first.contains("error")) << first.dump();
  EXPECT_EQ(first["error"]["data"]["error"], "CONSENT_DENIED");
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1);
  const json viaHost = deriveViaHost(*harness_, privateNotes(*harness_));
  const json again = page.call("deriveStorageKey", privateNotes(*harness_));
  EXPECT_EQ(viaHost["error"]["data"]["remembered"], true) << viaHost.dump();
  EXPECT_EQ(again["error"], viaHost["error"]);
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1) << "a remembered refusal asks nobody";
}

TEST_F(FrontDoor, AConsentedPageGetsTheSameKeyAsOnTheExtensionPath) {
  openDoor(freePort(), {"https://app.example"});
  PageClient page(port_, "https://app.example");
  const json viaDoor = page.call("deriveStorageKey", privateNotes(*harness_));
  ASSERT_TRUE(viaDoor.contains("result")) << viaDoor.dump();
  bool originShown = false;
  for (const auto& line : harness_->pinentryLog()) {
    originShown = originShown || line.dump().find("https://app.example") != std::string::npos;
  }
  EXPECT_TRUE(originShown) << "the consent dialog names the Origin header";
  const json viaHost = deriveViaHost(*harness_, privateNotes(*harness_));
  EXPECT_EQ(viaDoor["result"], viaHost["result"]) << "one origin, one site space, either door";
  EXPECT_EQ(page.call("hello")["result"]["access"], "site");
}

TEST_F(FrontDoor, AMessageMayNotNameItsCaller) {
  openDoor(freePort());
  PageClient page(port_, "https://app.example");
  for (const json& extra :
       {json{{"origin", "https://other.example"}},
        json{{"extension", "abcdefghijklmnopabcdefghijklmnop"}}, json{{"tty", "/dev/pts/0"}}}) {
    const json reply = page.call("hello", json::object(), extra);
    ASSERT_TRUE(reply.contains("error")) << reply.dump();
    EXPECT_EQ(reply["error"]["data"]["error"], "BAD_REQUEST") << reply.dump();
  }
}

// A connection upgraded by hand, for frames a browser would not send.
class RawPage {
 public:
  RawPage(std::uint16_t port, const std::string& origin) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    const timeval timeout{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    asio::write(socket_, asio::buffer(upgradeRequest("127.0.0.1:" + std::to_string(port), origin)));
    std::string answer;
    char byte = 0;
    while (!answer.ends_with("\r\n\r\n") && ::recv(socket_.native_handle(), &byte, 1, 0) == 1) {
      answer += byte;
    }
    if (!answer.starts_with("HTTP/1.1 101 ")) {
      throw std::runtime_error("not upgraded: " + answer);
    }
  }
  // The head of one unfragmented text frame of `length` bytes (masked with a
  // zero key, so the payload goes as it is).
  void startTextFrame(std::uint64_t length) {
    std::string head = {'\x81', '\xff'};
    for (int shift = 56; shift >= 0; shift -= 8) {
      head += static_cast<char>((length >> shift) & 0xffU);
    }
    head.append(4, '\0');
    asio::write(socket_, asio::buffer(head));
  }
  void sendBytes(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }
  // Reads the agent's frames (unmasked, as a server sends them) until its close
  // frame, and returns the close code; 0 if the connection ends without one.
  std::uint16_t readCloseCode() {
    for (;;) {
      std::array<unsigned char, 2> head{};
      if (!readExactly(head.data(), head.size())) {
        return 0;
      }
      std::uint64_t length = head[1] & 0x7fU;
      if (length >= 126) {
        std::array<unsigned char, 8> extended{};
        const std::size_t size = length == 126 ? 2 : 8;
        if (!readExactly(extended.data(), size)) {
          return 0;
        }
        length = 0;
        for (std::size_t i = 0; i < size; ++i) {
          length = (length << 8U) | extended.at(i);
        }
      }
      std::string payload(length, '\0');
      if (!readExactly(payload.data(), payload.size())) {
        return 0;
      }
      if ((head[0] & 0x0fU) == 0x8) {
        if (payload.size() < 2) {
          return 0;
        }
        return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8U) |
                                          static_cast<unsigned char>(payload[1]));
      }
    }
  }

 private:
  bool readExactly(void* into, std::size_t size) {
    boost::system::error_code ec;
    asio::read(socket_, asio::buffer(into, size), ec);
    return !ec;
  }
  asio::io_context io_;
  tcp::socket socket_;
};

TEST_F(FrontDoor, OversizedAndBinaryFramesClose) {
  // Paired: an unpaired page's limit is far smaller (AnUnpairedPageMaySendOnlySmallMessages).
  openDoor(freePort(), {"https://app.example"});
  {
    // Only the frame's head and a little of it: the agent refuses it from the
    // announced length, and a client still writing megabytes could meet a reset
    // before it reads the close frame.
    RawPage page(port_, "https://app.example");
    page.startTextFrame(5U * 1024U * 1024U);
    page.sendBytes(std::string(1024, ' '));
    EXPECT_EQ(page.readCloseCode(), websocket::close_code::too_big);
  }
  {
    PageClient page(port_, "https://app.example");
    page.sendBinary(R"({"jsonrpc":"2.0","id":1,"method":"hello"})");
    (void)page.readUntilClosed();
    EXPECT_EQ(page.closeReason().code, websocket::close_code::unknown_data);
  }
  // The agent still serves both doors.
  PageClient page(port_, "https://app.example");
  EXPECT_TRUE(page.call("hello").contains("result"));
}

TEST_F(FrontDoor, ServesIPv6LoopbackAndLocalhost) {
  openDoor(freePort());
  asio::io_context io;
  tcp::socket probe(io);
  boost::system::error_code ec;
  probe.connect(tcp::endpoint(asio::ip::address_v6::loopback(), port_), ec);
  if (ec) {
    GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  }
  const std::string answer =
      rawExchangeOn(asio::ip::address_v6::loopback(), port_,
                    upgradeRequest("[::1]:" + std::to_string(port_), "https://app.example"));
  EXPECT_EQ(statusLine(answer), "HTTP/1.1 101 Switching Protocols") << answer;
  EXPECT_EQ(statusLine(rawExchange(port_, upgradeRequest("LocalHost:" + std::to_string(port_),
                                                         "https://app.example"))),
            "HTTP/1.1 101 Switching Protocols");
}

// A client that opens a connection and sends its upgrade request slowly gets
// 408; one that upgrades and then says nothing is closed when idle.
TEST_F(FrontDoor, SlowAndIdleClientsAreClosed) {
  setup_.extraEnv["P2PCP_TEST_FRAME_TIMEOUT_MS"] = "300";
  setup_.extraEnv["P2PCP_TEST_IDLE_TIMEOUT_MS"] = "500";
  openDoor(freePort(), {"https://app.example"});
  const auto started = std::chrono::steady_clock::now();
  const std::string answer = rawExchange(port_, "GET / HTTP/1.1\r\nHost: 127.0.0.1");
  EXPECT_EQ(statusLine(answer), "HTTP/1.1 408 Request Timeout") << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  PageClient page(port_, "https://app.example");
  (void)page.readUntilClosed();
  EXPECT_EQ(page.closeReason().code, websocket::close_code::going_away);
  // A page that subscribed waits for events: it is not idle.
  PageClient listener(port_, "https://app.example");
  EXPECT_EQ(listener.call("subscribe")["result"], json({{"subscribed", true}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE(listener.call("hello").contains("result"));
}

// Token events reach a subscribed front-door page shaped as for an extension
// page (no token named, the page's origin attached), and only if the person
// gave that origin access: grades_test's TokenEventsReachOnlyOriginsWithAccess.
TEST_F(FrontDoor, TokenEventsReachOnlySubscribedPagesWithAccess) {
  openDoor(freePort(), {"https://a.example", "https://b.example"});
  harness_->connect().call("grantConsent", {{"origin", "https://a.example"}, {"access", "site"}});
  PageClient pageA(port_, "https://a.example");
  PageClient pageB(port_, "https://b.example");  // no access: it may subscribe, not hear
  PageClient unsubscribed(port_, "https://a.example");
  EXPECT_EQ(pageA.call("subscribe")["result"], json({{"subscribed", true}}));
  EXPECT_EQ(pageB.call("subscribe")["result"], json({{"subscribed", true}}));
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 0) << "subscribing asks nobody";
  // Take the token away: SoftHSM2 reports it gone on the agent's next scan.
  for (const auto& entry : std::filesystem::directory_iterator(harness_->home() / "tokens")) {
    std::filesystem::remove_all(entry.path());
  }
  EXPECT_EQ(pageA.receive(), json::parse(R"({"jsonrpc":"2.0","method":"tokenRemoved",
                                             "params":{},"origin":"https://a.example"})"));
  EXPECT_EQ(pageB.tryReceive(std::chrono::milliseconds(2500)), std::nullopt)
      << "an origin without access hears nothing";
  // A page that did not subscribe hears nothing either, but is still served.
  const json hello = unsubscribed.call("hello");
  EXPECT_TRUE(hello.contains("result")) << hello.dump();
}

std::size_t residentKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) {
      return std::stoul(line.substr(6));
    }
  }
  return 0;
}

// A person with a couple of hundred tabs of p2pcp apps open: 200 pages
// connect and ask at once, and all are answered. The door holds 256; the
// 257th client is told 503 (not dropped in silence), and once a tab closes
// the next one is served again. The Unix socket is counted apart.
TEST_F(FrontDoor, TwoHundredPagesAtOnceAreServedAndTheOnePastTheCapGets503) {
  constexpr std::size_t kPages = 200;
  constexpr std::size_t kCap = 256;
  // Paired apps: pages that are not paired have a far smaller share
  // (UnpairedPagesCannotTakeThePlacesOfPairedApps).
  openDoor(freePort(), {"https://app.example", "https://app0.example", "https://app1.example",
                        "https://app2.example", "https://app3.example", "https://app4.example",
                        "https://app5.example", "https://app6.example"});
  const std::size_t before = residentKiB(harness_->pid());
  std::vector<std::unique_ptr<PageClient>> pages;
  for (std::size_t i = 0; i < kPages; ++i) {
    pages.push_back(
        std::make_unique<PageClient>(port_, "https://app" + std::to_string(i % 7) + ".example"));
  }
  for (auto& page : pages) {
    page->sendText(page->request("hello").dump());  // all 200 in flight before any is read
  }
  for (std::size_t i = 0; i < kPages; ++i) {
    const json reply = pages[i]->receive();
    ASSERT_TRUE(reply.contains("result")) << i << ": " << reply.dump();
    EXPECT_EQ(reply["result"]["access"], "none");
  }
  while (pages.size() < kCap) {
    pages.push_back(std::make_unique<PageClient>(port_, "https://app.example"));
  }
  const std::size_t after = residentKiB(harness_->pid());
  std::cout << "agent resident memory: " << before << " KiB idle, " << after << " KiB with " << kCap
            << " front-door connections (" << (after - before) * 1024 / kCap << " bytes each)\n";
  EXPECT_LT(after - before, kCap * 256U) << "at most 256 KiB per idle connection";
  const std::string host = "127.0.0.1:" + std::to_string(port_);
  const std::string refused = rawExchange(port_, upgradeRequest(host, "https://app.example"));
  EXPECT_EQ(statusLine(refused), "HTTP/1.1 503 Service Unavailable") << refused;
  EXPECT_NE(refused.find("at most 256 connections"), std::string::npos) << refused;
  EXPECT_EQ(status()["webSocket"]["state"], "listening") << "the Unix socket is served";
  // A tab closes: its place is free again.
  pages.pop_back();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string answer;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    answer = rawExchange(port_, upgradeRequest(host, "https://app.example"));
  } while (!answer.starts_with("HTTP/1.1 101 ") && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(statusLine(answer), "HTTP/1.1 101 Switching Protocols") << answer;
  EXPECT_TRUE(pages.front()->call("hello").contains("result"));
}

// Any web page can open connections to the door, so pages whose origin is not
// paired get at most 32 places of the 256: one that holds them all (with a
// hello now and then, so they are never idle) cannot lock the person's paired
// app out.
TEST_F(FrontDoor, UnpairedPagesCannotTakeThePlacesOfPairedApps) {
  constexpr std::size_t kUnpairedCap = 32;
  openDoor(freePort(), {"https://app.example"});
  std::vector<std::unique_ptr<PageClient>> squatters;
  for (std::size_t i = 0; i < kUnpairedCap; ++i) {
    squatters.push_back(std::make_unique<PageClient>(
        port_, "https://squatter" + std::to_string(i % 3) + ".example"));
  }
  const std::string host = "127.0.0.1:" + std::to_string(port_);
  const std::string refused = rawExchange(port_, upgradeRequest(host, "https://squatter.example"));
  EXPECT_EQ(statusLine(refused), "HTTP/1.1 503 Service Unavailable") << refused;
  EXPECT_NE(refused.find("not paired"), std::string::npos) << refused;
  // The paired app still gets in, and is served.
  PageClient app(port_, "https://app.example");
  EXPECT_EQ(app.call("hello")["result"]["paired"], true);
  // Each squatter is still served what an unpaired page may have.
  EXPECT_TRUE(squatters.back()->call("hello").contains("result"));
  // One closes: an unpaired page may take its place.
  squatters.pop_back();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string answer;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    answer = rawExchange(port_, upgradeRequest(host, "https://squatter.example"));
  } while (!answer.starts_with("HTTP/1.1 101 ") && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(statusLine(answer), "HTTP/1.1 101 Switching Protocols") << answer;
}

constexpr std::size_t kMiB = 1024U * 1024U;

// Logs the token in from the person's own CLI path; returns the key's URI.
std::string logIn(AgentHarness& harness) {
  std::string key = harness.keyUri("p256");
  (void)harness.connect().call("deriveStorageKey",
                               {{"key", key}, {"kind", "private"}, {"uri", "/warm"}});
  return key;
}

// One connection runs at most 16 requests at once: its 17th message is not
// even read until one of them finishes. The requests wait for the token while
// the person's own login holds it (a 3 s PIN dialog): a hello sent after 15
// of them is answered at once, one sent after 16 only once one is done.
TEST_F(FrontDoor, TheSeventeenthRequestWaitsUntilOneOfSixteenFinishes) {
  setup_.pinentryDelayMs = 3000;
  openDoor(freePort(), {"https://app.example"});
  auto agent = harness_->connect();
  agent.call("grantConsent", {{"origin", "https://app.example"}, {"access", "full"}});
  // Asked once, before any login: listKeys (behind keyFingerprint) would wait for
  // the token that the person's login holds.
  const json notes = privateNotes(*harness_);
  // Which reply comes first; nullopt when the person's login was over before
  // the hello went out (a very slow machine: nothing was waiting then).
  const auto firstAnswered = [&](std::size_t waiting) -> std::optional<std::string> {
    agent.call("lock", json::object());
    const int dialogsBefore = harness_->countPinentry("GETPIN");
    std::atomic<bool> loggedIn{false};
    std::jthread person([&] {
      (void)harness_->connect().call("login", json::object());
      loggedIn = true;
    });
    // Once the person's PIN dialog is open, the token is held until it answers.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (harness_->countPinentry("GETPIN") == dialogsBefore &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    PageClient page(port_, "https://app.example");
    for (std::size_t i = 0; i < waiting; ++i) {
      page.sendText(page.request("deriveStorageKey", notes).dump());
    }
    const json hello = page.request("hello");
    page.sendText(hello.dump());
    const bool stillWaiting = !loggedIn;
    const json first = page.receive();
    for (std::size_t i = 0; i < waiting; ++i) {  // the rest, so that nothing is left running
      const json reply = page.receive();
      EXPECT_TRUE(reply.contains("result")) << reply.dump();
    }
    if (!stillWaiting) {
      return std::nullopt;
    }
    return first["id"] == hello["id"] ? std::string("hello") : std::string("a waiting request");
  };
  const auto conclusive = [&](std::size_t waiting) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (auto first = firstAnswered(waiting)) {
        return *first;
      }
      std::cout << "the person's login was over before the hello was sent; again\n";
    }
    return std::string("inconclusive: the machine is too slow for a 3 s dialog");
  };
  EXPECT_EQ(conclusive(15), "hello");
  EXPECT_EQ(conclusive(16), "a waiting request");
}

// A page that asks for big replies and reads none: once 16 MiB of replies are
// queued the agent reads no more of its requests, its memory stays bounded,
// the connection is closed (queue hard cap, or no write progress for 2 s
// here), and other clients of both doors are served meanwhile.
TEST_F(FrontDoor, APageThatNeverReadsIsPausedThenClosedAndOthersAreServed) {
  setup_.extraEnv["P2PCP_TEST_WRITE_TIMEOUT_MS"] = "2000";
#if defined(__SANITIZE_ADDRESS__)
  // ASan's quarantine (256 MiB by default) keeps freed memory in the agent's
  // RSS: a small one keeps the bound about the agent's own buffering (as
  // dos_test's forMemoryChecks).
  const char* asanOptions = std::getenv("ASAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe)
  setup_.extraEnv["ASAN_OPTIONS"] =
      (asanOptions != nullptr && *asanOptions != '\0' ? std::string(asanOptions) + ":"
                                                      : std::string()) +
      "quarantine_size_mb=16";
#endif
  openDoor(freePort(), {"https://app.example"});
  const std::string key = logIn(*harness_);
  harness_->connect().call("grantConsent", {{"origin", "https://app.example"}, {"access", "full"}});
  p2pcp::testing::HelloProbe probe(harness_->socket());
  probe.waitForAnswers(5, std::chrono::milliseconds(5000));
  PageClient reader(port_, "https://app.example");
  ASSERT_TRUE(reader.call("hello").contains("result"));
  const std::size_t before = p2pcp::testing::residentBytes(harness_->pid());
  PageClient attacker(port_, "https://app.example");
  // 3 MiB of base64 (2.25 MiB of data) sealed: a reply of about 3 MiB each.
  const std::string seal =
      attacker
          .request("seal", {{"key", key}, {"uri", "/r"}, {"plaintext", std::string(3 * kMiB, 'A')}})
          .dump();
  constexpr int kRequests = 100;  // 300 MiB of replies if nothing held it back
  int sent = 0;
  try {
    for (; sent < kRequests; ++sent) {
      attacker.sendText(seal);  // fails once the agent stops reading (10 s without progress)
    }
  } catch (const std::exception&) {
  }
  const std::size_t peak = p2pcp::testing::peakResidentBytes(harness_->pid());
  std::cout << "never-reading page: " << sent << " requests of 3 MiB taken; agent RSS before "
            << before / 1024 << " KiB, peak " << peak / 1024 << " KiB\n";
  EXPECT_LT(sent, kRequests) << "the agent kept reading a page that reads nothing";
  // The bound: 64 MiB of queued replies, 16 requests in flight (each its text,
  // parse and reply), the kernel's buffers outside the agent.
  EXPECT_LT(peak, before + 256 * kMiB);
  pollfd hangUp{attacker.socket().native_handle(), POLLRDHUP, 0};
  EXPECT_EQ(::poll(&hangUp, 1, 30'000), 1) << "the agent did not close a page that reads nothing";
  const std::string log = harness_->agentLog();
  EXPECT_TRUE(log.find("that does not read its replies") != std::string::npos ||
              log.find("read none of its replies") != std::string::npos)
      << log;
  EXPECT_TRUE(reader.call("hello").contains("result")) << "the well-behaved page is served";
  EXPECT_EQ(probe.failure(), "");
  EXPECT_LT(probe.worst(), std::chrono::seconds(2)) << "the Unix socket stalled";
}

// Large messages on both doors draw on one agent-wide budget (256 MiB): 70
// pages each start a 4 MiB message (a message past 64 KiB reserves the most
// one may be before more of it is read), which takes all of it; a large
// request on the Unix socket then waits, and is served once those pages go.
// Small requests on both doors never need the budget.
TEST_F(FrontDoor, LargeMessagesShareTheUnixSocketsBudget) {
  openDoor(freePort(), {"https://app.example"});
  const std::string key = logIn(*harness_);
  std::vector<std::unique_ptr<RawPage>> holders;
  for (int i = 0; i < 70; ++i) {
    holders.push_back(std::make_unique<RawPage>(port_, "https://app.example"));
    holders.back()->startTextFrame(4 * kMiB - 1);
    holders.back()->sendBytes(std::string(100 * 1024, ' '));
  }
  PageClient page(port_, "https://app.example");
  EXPECT_TRUE(page.call("hello").contains("result")) << "a small message needs no budget";
  const p2pcp::testing::RawSocket large(harness_->socket());
  // The agent reads none of its body until the budget has room: sent on a thread.
  std::jthread sender([&] {
    large.sendRequest(p2pcp::testing::request(
        "big", "seal", {{"key", key}, {"uri", "/big"}, {"plaintext", std::string(kMiB, 'A')}}));
  });
  try {
    const auto early = large.receive(std::chrono::milliseconds(1500));
    ADD_FAILURE() << "a large request on the Unix socket was served while the front door held "
                     "the budget: "
                  << (early ? early->dump().substr(0, 300) : std::string("EOF"));
  } catch (const std::exception&) {
    // No reply within 1.5 s: it waits for the budget.
  }
  EXPECT_EQ(harness_->connect().call("hello")["protocol"], 1) << "small Unix requests are served";
  holders.clear();
  sender.join();
  const auto reply = large.receive(std::chrono::milliseconds(10'000));
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->contains("result")) << reply->dump().substr(0, 300);
}

// Loopback TCP is open to every user of the machine: the door, like the Unix
// socket, serves only the agent's own user. The same upgrade request from bash
// gets 101 as this user and nothing at all as another one.
TEST_F(FrontDoor, AnotherUserOfTheMachineIsRefused) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to run a client as another user";
  }
  openDoor(freePort());
  const std::string request =
      upgradeRequest("127.0.0.1:" + std::to_string(port_), "https://app.example");
  std::string printable;
  for (const char c : request) {
    printable += c == '\r'   ? std::string("\\r")
                 : c == '\n' ? std::string("\\n")
                             : std::string(1, c);
  }
  // SIGPIPE ignored: the agent may close the refused connection before printf writes, and
  // that write failing (EPIPE) is part of being refused, not a reason for bash to die.
  const std::string script = "trap '' PIPE; exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port_) +
                             " || exit 9; printf '" + printable +
                             "' >&3 2>/dev/null; timeout 2 head -c 12 <&3; true";
  const auto asUs = harness_->run({"/bin/bash", "-c", script});
  EXPECT_EQ(asUs.output, "HTTP/1.1 101") << asUs.output;
  const auto asNobody = harness_->run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                       "--clear-groups", "/bin/bash", "-c", script});
  EXPECT_EQ(asNobody.exitCode, 0) << asNobody.output;
  EXPECT_EQ(asNobody.output.find("HTTP/"), std::string::npos)
      << "another user gets no answer: " << asNobody.output;
  EXPECT_NE(harness_->agentLog().find("refused a WebSocket connection from uid 65534"),
            std::string::npos)
      << harness_->agentLog();
}

TEST_F(FrontDoor, APortInUseIsReportedAndTheSocketStillServes) {
  asio::io_context io;
  tcp::acceptor squatter(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  openDoor(squatter.local_endpoint().port());
  const json state = status()["webSocket"];
  EXPECT_EQ(state["state"], "error") << state.dump();
  EXPECT_NE(state.value("error", "").find("already in use"), std::string::npos) << state.dump();
  EXPECT_NE(harness_->agentLog().find("already in use"), std::string::npos);
  EXPECT_EQ(statusLineOfCli(), "WebSocket front door: ERROR, not listening on port " +
                                   std::to_string(port_) + ": port " + std::to_string(port_) +
                                   " is already in use on 127.0.0.1 (another agent or another "
                                   "program)");
}

// ---- pairing ---------------------------------------------------------------

bool isNotPaired(const json& reply) {
  return reply.contains("error") && reply["error"]["data"]["error"] == "NOT_PAIRED" &&
         reply["error"]["message"] == "this page is not paired with the key agent; call pair first";
}

// What a pair request brought: the notifications before its reply, and the reply.
struct PairOutcome {
  std::vector<json> notifications;
  json reply;
  std::chrono::steady_clock::duration codeAfter{};   // from the request to the code
  std::chrono::steady_clock::duration replyAfter{};  // from the request to the reply
};

PairOutcome readPairOutcome(PageClient& page, std::chrono::steady_clock::time_point sent) {
  PairOutcome outcome;
  for (;;) {
    json message = page.receive();
    if (message.contains("id")) {
      outcome.replyAfter = std::chrono::steady_clock::now() - sent;
      outcome.reply = std::move(message);
      return outcome;
    }
    if (outcome.notifications.empty()) {
      outcome.codeAfter = std::chrono::steady_clock::now() - sent;
    }
    outcome.notifications.push_back(std::move(message));
  }
}

PairOutcome pair(PageClient& page, int id = 77) {
  const auto sent = std::chrono::steady_clock::now();
  page.sendText(
      json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "pair"}, {"params", json::object()}}.dump());
  return readPairOutcome(page, sent);
}

// The pinentry commands of the pairing dialogs (SETDESC ... CONFIRM), one entry each.
std::vector<std::string> pairingDialogTexts(const AgentHarness& harness) {
  std::vector<std::string> texts;
  bool pairingTitle = false;
  for (const auto& line : harness.pinentryLog()) {
    if (line["cmd"] == "SETTITLE") {
      pairingTitle = line.value("arg", "") == "Pair a web page with p2pcp";
    } else if (line["cmd"] == "SETDESC" && pairingTitle) {
      texts.push_back(line.value("arg", ""));
    }
  }
  return texts;
}

// Before pairing, a front-door page gets NOT_PAIRED for every method of the
// caller table but hello and pair (an unknown method too), and nobody is asked.
TEST_F(FrontDoor, AnUnpairedPageMayCallOnlyHelloAndPair) {
  openDoor(freePort());
  PageClient page(port_, "https://app.example");
  std::size_t refused = 0;
  for (const auto& method : p2pcp::agent::methodAccessTable()) {
    if (method.name == "hello" || method.name == "pair") {
      continue;
    }
    const json reply = page.call(std::string(method.name));
    EXPECT_TRUE(isNotPaired(reply)) << method.name << ": " << reply.dump();
    ++refused;
  }
  EXPECT_GT(refused, 20U);
  EXPECT_TRUE(isNotPaired(page.call("noSuchMethod")));
  EXPECT_EQ(page.call("hello")["result"]["paired"], false);
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 0) << "no dialog before pairing";
  EXPECT_EQ(harness_->countPinentry("GETPIN"), 0);
}

// An unpaired hello tells a page nothing about the person: the same answer
// whether or not the origin holds a consent (or a remembered denial), and
// the extension path's hello is unchanged (no "paired", no pair).
TEST_F(FrontDoor, AnUnpairedHelloRevealsNothing) {
  openDoor(freePort());
  PageClient page(port_, "https://app.example");
  const json before = page.call("hello");
  ASSERT_TRUE(before.contains("result")) << before.dump();
  EXPECT_EQ(before["result"]["paired"], false);
  EXPECT_EQ(before["result"]["access"], "none");
  EXPECT_EQ(before["result"]["methods"], json({"hello", "pair"}));
  ASSERT_TRUE(local("grantConsent", {{"origin", "https://app.example"}, {"access", "full"}})
                  .contains("result"));
  const json withConsent = page.call("hello");
  EXPECT_EQ(withConsent["result"].dump(), before["result"].dump())
      << "an unpaired hello must not depend on the person's consents";
  auto agent = harness_->connect();
  const json viaHost = agent.call("hello", json::object(), {{"origin", "https://app.example"}});
  EXPECT_FALSE(viaHost.contains("paired")) << viaHost.dump();
  EXPECT_EQ(viaHost["access"], "full");
  const auto methods = viaHost["methods"].get<std::vector<std::string>>();
  EXPECT_EQ(std::count(methods.begin(), methods.end(), "pair"), 0);
  try {
    (void)agent.call("pair", json::object(), {{"origin", "https://app.example"}});
    ADD_FAILURE() << "an extension-path page paired";
  } catch (const p2pcp::client::AgentCallError& e) {
    EXPECT_EQ(e.code(), "NOT_ALLOWED_BY_POLICY");
  }
}

// The page gets its code on its own connection first, while the dialog is
// still open (pinentry answers after 1.5 s), and the dialog names the origin
// and that exact code.
TEST_F(FrontDoor, PairShowsTheCodeBeforeTheDialogWhichNamesIt) {
  setup_.pinentryDelayMs = 1500;
  openDoor(freePort());
  PageClient page(port_, "https://app.example");
  const PairOutcome outcome = pair(page, 77);
  ASSERT_EQ(outcome.notifications.size(), 1U) << outcome.reply.dump();
  const json& note = outcome.notifications.front();
  EXPECT_EQ(note["jsonrpc"], "2.0");
  EXPECT_EQ(note["method"], "pairingCode");
  EXPECT_EQ(note["params"]["id"], 77);
  EXPECT_EQ(note["params"]["expiresIn"], 120);
  const std::string code = note["params"]["code"].get<std::string>();
  ASSERT_EQ(code.size(), 7U) << code;
  for (std::size_t i = 0; i < code.size(); ++i) {
    EXPECT_TRUE(i == 3 ? code[i] == '-' : std::isdigit(static_cast<unsigned char>(code[i])) != 0)
        << code;
  }
  EXPECT_EQ(outcome.reply["result"], json({{"paired", true}, {"origin", "https://app.example"}}))
      << outcome.reply.dump();
  EXPECT_LT(outcome.codeAfter, std::chrono::milliseconds(1000))
      << "the code came only once the dialog was answered";
  EXPECT_GE(outcome.replyAfter, std::chrono::milliseconds(1500));
  const auto texts = pairingDialogTexts(*harness_);
  ASSERT_EQ(texts.size(), 1U);
  EXPECT_NE(texts[0].find("https://app.example"), std::string::npos) << texts[0];
  EXPECT_NE(texts[0].find("shows the code " + code), std::string::npos) << texts[0];
  bool pairButton = false;
  bool refuseButton = false;
  for (const auto& line : harness_->pinentryLog()) {
    pairButton = pairButton || (line["cmd"] == "SETOK" && line.value("arg", "") == "Pair");
    refuseButton =
        refuseButton || (line["cmd"] == "SETCANCEL" && line.value("arg", "") == "Refuse");
  }
  EXPECT_TRUE(pairButton && refuseButton);
  // Paired now: the page's methods are its grade's, and a second pair asks nobody.
  const json hello = page.call("hello");
  EXPECT_EQ(hello["result"]["paired"], true);
  const PairOutcome again = pair(page, 78);
  EXPECT_TRUE(again.notifications.empty());
  EXPECT_EQ(again.reply["result"]["paired"], true);
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1);
  const json listed = local("listPairings");
  ASSERT_EQ(listed["result"]["pairings"].size(), 1U) << listed.dump();
  EXPECT_EQ(listed["result"]["pairings"][0]["origin"], "https://app.example");
  EXPECT_EQ(listed["result"]["pairings"][0]["state"], "paired");
}

TEST_F(FrontDoor, ARefusedPairingIsRememberedAndAsksNoMore) {
  setup_.confirm = "no";
  openDoor(freePort());
  PageClient page(port_, "https://app.example");
  const PairOutcome first = pair(page);
  EXPECT_EQ(first.notifications.size(), 1U);
  EXPECT_EQ(first.reply["error"]["data"]["error"], "CONSENT_DENIED") << first.reply.dump();
  const PairOutcome second = pair(page);
  EXPECT_TRUE(second.notifications.empty()) << "no code, no dialog";
  EXPECT_EQ(second.reply["error"]["data"]["error"], "CONSENT_DENIED");
  EXPECT_EQ(second.reply["error"]["data"]["remembered"], true);
  EXPECT_NE(second.reply["error"]["message"].get<std::string>().find(
                "p2pcp pairings revoke https://app.example"),
            std::string::npos)
      << second.reply.dump();
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1);
  EXPECT_TRUE(isNotPaired(page.call("getPublicKey")));
  // Remembered across a restart too.
  restartAgent();
  PageClient later(port_, "https://app.example");
  EXPECT_EQ(pair(later).reply["error"]["data"]["remembered"], true);
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1);
  const json listed = local("listPairings");
  ASSERT_EQ(listed["result"]["pairings"].size(), 1U) << listed.dump();
  EXPECT_EQ(listed["result"]["pairings"][0]["state"], "refused");
}

// Revoking a pairing closes the origin's open connections at once (1008,
// "pairing revoked"), also one whose request waits for the person, which
// gets no result; after reconnecting the page must pair again.
TEST_F(FrontDoor, RevokingAPairingClosesItsConnections) {
  setup_.pinentryDelayMs = 1500;
  openDoor(freePort(), {"https://app.example", "https://other.example"});
  PageClient page(port_, "https://app.example");
  PageClient other(port_, "https://other.example");
  ASSERT_EQ(page.call("hello")["result"]["paired"], true);
  // A request that waits for the consent dialog while the pairing goes.
  page.sendText(json{{"jsonrpc", "2.0"},
                     {"id", 5},
                     {"method", "deriveStorageKey"},
                     {"params", privateNotes(*harness_)}}
                    .dump());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const json revoked = local("revokePairing", {{"origin", "https://app.example"}});
  EXPECT_EQ(revoked["result"], json({{"revoked", true}})) << revoked.dump();
  const auto ec = page.readUntilClosed();
  EXPECT_EQ(ec, websocket::error::closed) << ec.message();
  EXPECT_EQ(page.closeReason().code, websocket::close_code::policy_error);
  EXPECT_EQ(std::string(page.closeReason().reason.c_str()), "pairing revoked");
  EXPECT_EQ(other.call("hello")["result"]["paired"], true) << "another origin stays open";
  PageClient again(port_, "https://app.example");
  EXPECT_TRUE(isNotPaired(again.call("deriveStorageKey", privateNotes(*harness_))));
  EXPECT_EQ(again.call("hello")["result"]["paired"], false);
  EXPECT_EQ(local("revokePairing", {{"origin", "https://app.example"}})["result"],
            json({{"revoked", false}}));
  EXPECT_EQ(local("revokePairing", {{"origin", "not an origin"}})["error"]["data"]["error"],
            "BAD_REQUEST");
}

TEST_F(FrontDoor, APairingOutlivesARestartAndPairsOnlyItsOrigin) {
  openDoor(freePort());
  {
    PageClient page(port_, "https://app.example");
    ASSERT_EQ(pair(page).reply["result"]["paired"], true);
    PageClient other(port_, "https://other.example");
    EXPECT_TRUE(isNotPaired(other.call("getPublicKey")));
    EXPECT_EQ(other.call("hello")["result"]["paired"], false);
    PageClient sub(port_, "https://sub.app.example");
    EXPECT_TRUE(isNotPaired(sub.call("subscribe")));
  }
  EXPECT_EQ(std::filesystem::status(pairingFile()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  restartAgent();
  PageClient page(port_, "https://app.example");
  EXPECT_EQ(page.call("hello")["result"]["paired"], true);
  const json key = page.call("deriveStorageKey", privateNotes(*harness_));
  EXPECT_TRUE(key.contains("result")) << key.dump();
  EXPECT_EQ(pairingDialogTexts(*harness_).size(), 1U);
}

// Before pairing a page may only call hello and pair, whose requests are a few
// bytes: a larger message closes the connection (1009) instead of being read,
// buffered and parsed, so any web page cannot make the agent hold megabytes
// (nor the agent-wide budget that large messages of both doors share). Once
// paired, the same message is served on the same connection.
TEST_F(FrontDoor, AnUnpairedPageMaySendOnlySmallMessages) {
  openDoor(freePort());
  const json big = {{"jsonrpc", "2.0"},
                    {"id", 1},
                    {"method", "deriveStorageKey"},
                    {"params", {{"uri", "/" + std::string(100U * 1024U, 'a')}}}};
  {
    PageClient page(port_, "https://app.example");
    EXPECT_TRUE(isNotPaired(page.call("getPublicKey"))) << "small messages are answered";
    bool answered = false;
    try {
      page.sendText(big.dump());
      (void)page.receive();
      answered = true;
    } catch (const boost::system::system_error&) {
      // Closed. The agent closes as soon as the message is too big, maybe
      // before all of it is written, and then its close frame may be lost.
    }
    EXPECT_FALSE(answered) << "an unpaired page's large message was read";
    if (page.closeReason().code != websocket::close_code::none) {
      EXPECT_EQ(page.closeReason().code, websocket::close_code::too_big);
    }
  }
  PageClient page(port_, "https://app.example");
  ASSERT_EQ(pair(page).reply["result"]["paired"], true);
  page.sendText(big.dump());
  const json reply = page.receive();
  EXPECT_EQ(reply["id"], 1) << reply.dump();
  EXPECT_TRUE(reply.contains("error")) << reply.dump();
  EXPECT_NE(reply["error"]["data"]["error"], "NOT_PAIRED") << reply.dump();
}

// A refused pairing pauses the dialogs of its whole site, and the ports of one
// host are one site whether the host is a name or an IP address: a page cannot
// go on asking from throwaway ports of [::1] any more than of 127.0.0.1.
TEST_F(FrontDoor, ThrowawayPortsOfOneHostShareItsDialogPause) {
  setup_.confirm = "no";
  openDoor(freePort());
  for (const std::string host : {"127.0.0.1", "[::1]", "localhost"}) {
    PageClient first(port_, "http://" + host + ":8001");
    EXPECT_EQ(pair(first).reply["error"]["data"]["error"], "CONSENT_DENIED") << host;
    PageClient second(port_, "http://" + host + ":8002");
    const PairOutcome again = pair(second);
    EXPECT_TRUE(again.notifications.empty()) << host << ": a second dialog";
    EXPECT_EQ(again.reply["error"]["data"]["error"], "RATE_LIMITED")
        << host << ": " << again.reply.dump();
  }
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 3);
}

// Two pair requests of one origin at once: one dialog, one code, both paired.
TEST_F(FrontDoor, TwoPairRequestsOfOneOriginOpenOneDialog) {
  setup_.pinentryDelayMs = 1500;
  openDoor(freePort());
  PageClient first(port_, "https://app.example");
  PageClient second(port_, "https://app.example");
  const auto sent = std::chrono::steady_clock::now();
  const std::string request = R"({"jsonrpc":"2.0","id":1,"method":"pair","params":{}})";
  first.sendText(request);
  second.sendText(request);
  const PairOutcome a = readPairOutcome(first, sent);
  const PairOutcome b = readPairOutcome(second, sent);
  EXPECT_EQ(a.reply["result"]["paired"], true) << a.reply.dump();
  EXPECT_EQ(b.reply["result"]["paired"], true) << b.reply.dump();
  EXPECT_EQ(a.notifications.size() + b.notifications.size(), 1U) << "one code";
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1) << "one dialog";
}

TEST_F(FrontDoor, AnUnreadablePairingsFileIsSetAside) {
  const auto dir = harness_->home() / "config" / "p2pcp";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "pairings.json") << R"({"version": 1, "pairings": [{"origin": "x"}]})";
  openDoor(freePort());
  EXPECT_TRUE(std::filesystem::exists(dir / "pairings.json.corrupt"));
  EXPECT_NE(harness_->agentLog().find("pairing file"), std::string::npos);
  EXPECT_EQ(local("listPairings")["result"], json({{"pairings", json::array()}}));
  PageClient page(port_, "https://app.example");
  EXPECT_TRUE(isNotPaired(page.call("getPublicKey")));
}

// The person's own view: `p2pcp pairings` lists, `p2pcp pairings revoke` forgets.
TEST_F(FrontDoor, TheCliListsAndRevokesPairings) {
  openDoor(freePort(), {"https://app.example"});
  const auto listed = harness_->run({P2PCP_CLI_PROGRAM, "pairings"});
  EXPECT_EQ(listed.exitCode, 0) << listed.output;
  EXPECT_NE(listed.output.find("https://app.example"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("paired"), std::string::npos) << listed.output;
  const auto asJson = harness_->run({P2PCP_CLI_PROGRAM, "pairings", "--json"});
  ASSERT_EQ(asJson.exitCode, 0) << asJson.output;
  const json parsed = json::parse(asJson.output);
  ASSERT_EQ(parsed["pairings"].size(), 1U) << asJson.output;
  EXPECT_EQ(parsed["pairings"][0]["origin"], "https://app.example");
  EXPECT_EQ(parsed["pairings"][0]["since"], 1700000000);
  PageClient page(port_, "https://app.example");
  ASSERT_EQ(page.call("hello")["result"]["paired"], true);
  const auto revoked =
      harness_->run({P2PCP_CLI_PROGRAM, "pairings", "revoke", "https://app.example"});
  EXPECT_EQ(revoked.exitCode, 0) << revoked.output;
  EXPECT_NE(revoked.output.find("https://app.example"), std::string::npos) << revoked.output;
  (void)page.readUntilClosed();
  EXPECT_EQ(page.closeReason().code, websocket::close_code::policy_error);
  const auto empty = harness_->run({P2PCP_CLI_PROGRAM, "pairings"});
  EXPECT_EQ(empty.output.find("https://app.example"), std::string::npos) << empty.output;
  const auto none = harness_->run({P2PCP_CLI_PROGRAM, "pairings", "revoke", "https://app.example"});
  EXPECT_NE(none.output.find("was not paired"), std::string::npos) << none.output;
}

}  // namespace
