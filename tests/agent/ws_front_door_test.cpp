// SPDX-License-Identifier: Apache-2.0
// The loopback WebSocket front door (agent/ws) of a real agent on SoftHSM2,
// driven by a Boost.Beast client: off by default, refused before the upgrade
// for a rebinding Host or a missing or opaque Origin, and after it the same
// dispatcher as the extension path, with the Origin header as the page.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"
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

// A browser's side of the front door.
class PageClient {
 public:
  PageClient(std::uint16_t port, const std::string& origin) : ws_(io_) {
    auto& socket = ws_.next_layer();
    socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    const timeval timeout{10, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [origin](websocket::request_type& request) { request.set(http::field::origin, origin); }));
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/");
  }
  void sendText(const std::string& text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  void sendBinary(const std::string& bytes) {
    ws_.binary(true);
    ws_.write(asio::buffer(bytes));
  }
  json receive() {
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return json::parse(beast::buffers_to_string(buffer.data()));
  }
  json call(const std::string& method, const json& params = json::object(),
            const json& extra = json::object()) {
    json request = {{"jsonrpc", "2.0"}, {"id", ++id_}, {"method", method}, {"params", params}};
    request.update(extra);
    sendText(request.dump());
    return receive();
  }
  // Reads until the agent closes; the error the read ends with.
  boost::system::error_code readUntilClosed() {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (!ec) {
      buffer.clear();
      ws_.read(buffer, ec);
    }
    return ec;
  }
  [[nodiscard]] websocket::close_reason closeReason() const { return ws_.reason(); }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
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
  AgentSetup setup_;
  std::unique_ptr<AgentHarness> harness_;
  std::uint16_t port_ = 0;
};

TEST_F(FrontDoor, IsOffByDefault) {
  EXPECT_EQ(status()["webSocket"], json({{"state", "off"}}));
}

TEST_F(FrontDoor, ThePolicyCanForbidIt) {
  setup_.policy = json{{"webSocket", false}};
  const std::uint16_t port = freePort();
  openDoor(port);
  EXPECT_FALSE(somethingListens(port));
  const json state = status()["webSocket"];
  EXPECT_EQ(state["state"], "forbidden") << state.dump();
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

TEST_F(FrontDoor, OversizedAndBinaryFramesClose) {
  // Paired: an unpaired page's limit is far smaller (AnUnpairedPageMaySendOnlySmallMessages).
  openDoor(freePort(), {"https://app.example"});
  {
    PageClient page(port_, "https://app.example");
    page.sendText(std::string(5U * 1024U * 1024U, ' '));
    (void)page.readUntilClosed();
    EXPECT_EQ(page.closeReason().code, websocket::close_code::too_big);
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
