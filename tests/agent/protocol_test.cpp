// SPDX-License-Identifier: Apache-2.0
// The agent's protocol on a real SoftHSM2 token: typed errors for every kind
// of bad input, and the agent keeps serving everyone else.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent_harness.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;

// A raw connection, for bytes the client library would never send.
class RawConnection {
 public:
  explicit RawConnection(const std::filesystem::path& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect failed");
    }
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { ::close(fd_); }

  void sendBytes(const std::string& bytes) const { writeFully(fd_, bytes.data(), bytes.size()); }
  void sendMessage(const std::string& text) const {
    sendBytes(makeFrame(text, LengthOrder::BigEndian, kMaxAgentMessage));
  }
  [[nodiscard]] std::optional<json> receive() const {
    const auto text = readFrame(fd_, LengthOrder::BigEndian, kMaxAgentMessage);
    if (!text) {
      return std::nullopt;
    }
    return json::parse(*text);
  }
  [[nodiscard]] std::string errorOf(const std::string& text) const {
    sendMessage(text);
    const auto reply = receive();
    if (!reply || !reply->contains("error")) {
      return "no error: " + (reply ? reply->dump() : std::string("EOF"));
    }
    return (*reply)["error"]["data"]["error"].get<std::string>();
  }

 private:
  int fd_ = -1;
};

std::string errorCode(client::AgentClient& agent, const std::string& method, const json& params,
                      const json& meta = json::object()) {
  try {
    agent.call(method, params, meta);
    return "OK";
  } catch (const client::AgentCallError& e) {
    return e.code();
  }
}

class AgentProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    harness_ = std::make_unique<AgentHarness>();
  }
  std::unique_ptr<AgentHarness> harness_;
};

TEST_F(AgentProtocol, HelloStatesProtocolAndMethods) {
  auto agent = harness_->connect();
  const json hello = agent.call("hello", {{"client", "test"}});
  EXPECT_EQ(hello["protocol"], 1);
  EXPECT_EQ(hello["agent"], "p2pcp-agent");
  for (const char* method :
       {"status", "listTokens", "listKeys", "getPublicKey", "login", "lock", "deriveStorageKey",
        "signBlock", "signLogin", "seal", "open", "sign"}) {
    EXPECT_NE(std::find(hello["methods"].begin(), hello["methods"].end(), method),
              hello["methods"].end())
        << method;
  }
  EXPECT_EQ(errorCode(agent, "hello", {{"protocol", 99}}), "UNSUPPORTED");
}

TEST_F(AgentProtocol, MalformedRequestsGetTypedErrorsOnALiveConnection) {
  const RawConnection raw(harness_->socket());
  EXPECT_EQ(raw.errorOf("{not json"), "PARSE_ERROR");
  EXPECT_EQ(raw.errorOf("[1,2,3]"), "BAD_REQUEST");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"2.0","id":1,"method":"hello"},{})"), "PARSE_ERROR");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"1.0","id":1,"method":"hello"})"), "BAD_REQUEST");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"2.0","id":1})"), "BAD_REQUEST");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"2.0","id":1,"method":42})"), "BAD_REQUEST");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"2.0","id":{"a":1},"method":"hello"})"), "BAD_REQUEST");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"2.0","id":1,"method":"hello","params":[1]})"),
            "BAD_REQUEST");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"2.0","id":1,"method":"fly"})"), "METHOD_NOT_FOUND");
  EXPECT_EQ(raw.errorOf(R"({"jsonrpc":"2.0","id":1,"method":"hello","evil":"x"})"), "BAD_REQUEST");
  EXPECT_EQ(
      raw.errorOf(R"j({"jsonrpc":"2.0","id":1,"method":"hello","origin":"javascript:alert(1)"})j"),
      "BAD_REQUEST");
  EXPECT_EQ(
      raw.errorOf(
          R"({"jsonrpc":"2.0","id":1,"method":"deriveStorageKey","params":{"uri":7,"kind":"public"}})"),
      "BAD_REQUEST");
  EXPECT_EQ(
      raw.errorOf(
          R"({"jsonrpc":"2.0","id":1,"method":"deriveStorageKey","params":{"uri":"/a","kind":"public","x":1}})"),
      "BAD_REQUEST");
  EXPECT_EQ(
      raw.errorOf(
          R"({"jsonrpc":"2.0","id":1,"method":"signBlock","params":{"storageKey":"zz","seq":1,"payload":""}})"),
      "BAD_REQUEST");
  EXPECT_EQ(
      raw.errorOf(
          R"({"jsonrpc":"2.0","id":1,"method":"signBlock","params":{"storageKey":"00","seq":-1,"payload":""}})"),
      "BAD_REQUEST");
  EXPECT_EQ(
      raw.errorOf(
          R"({"jsonrpc":"2.0","id":1,"method":"seal","params":{"uri":"/n","plaintext":"***"}})"),
      "BAD_REQUEST");
  EXPECT_EQ(raw.errorOf(std::string("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\",\"params\":"
                                    "{\"client\":\"\xff\xfe\"}}")),
            "PARSE_ERROR");
  // Still serving this very connection.
  raw.sendMessage(R"({"jsonrpc":"2.0","id":"last","method":"hello"})");
  const auto reply = raw.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], "last");
  EXPECT_EQ((*reply)["result"]["protocol"], 1);
}

TEST_F(AgentProtocol, OversizedMessageIsRefusedAndOthersKeepBeingServed) {
  const RawConnection raw(harness_->socket());
  std::string header(4, '\0');
  encodeLength(100U * 1024U * 1024U, reinterpret_cast<std::uint8_t*>(header.data()),
               LengthOrder::BigEndian);
  raw.sendBytes(header + "{\"jsonrpc\"");
  const auto reply = raw.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["error"]["data"]["error"], "MESSAGE_TOO_LARGE");
  EXPECT_FALSE(raw.receive()) << "the agent hangs up after an oversized frame";
  auto other = harness_->connect();
  EXPECT_EQ(other.call("hello")["protocol"], 1);
}

TEST_F(AgentProtocol, TruncatedMessageDoesNotDisturbTheAgent) {
  {
    const RawConnection raw(harness_->socket());
    std::string header(4, '\0');
    encodeLength(1000, reinterpret_cast<std::uint8_t*>(header.data()), LengthOrder::BigEndian);
    raw.sendBytes(header + "{\"jsonrpc\":\"2.0\"");
  }
  {
    const RawConnection raw(harness_->socket());
    raw.sendBytes(std::string("\0\0", 2));
  }
  auto agent = harness_->connect();
  EXPECT_EQ(agent.call("hello")["protocol"], 1);
}

TEST_F(AgentProtocol, UnknownAndAmbiguousKeys) {
  auto agent = harness_->connect();
  EXPECT_EQ(errorCode(agent, "getPublicKey", {{"key", "pkcs11:object=nope"}}), "KEY_NOT_FOUND");
  EXPECT_EQ(errorCode(agent, "getPublicKey", {{"key", "not a uri"}}), "BAD_REQUEST");
  EXPECT_EQ(errorCode(agent, "getPublicKey", json::object()), "KEY_AMBIGUOUS");
  EXPECT_EQ(errorCode(agent, "getPublicKey", {{"key", "pkcs11:object=fixture-p256"}}), "OK");
}

TEST_F(AgentProtocol, SocketAndDirectoryArePrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(harness_->socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0600U);
  ASSERT_EQ(::stat(harness_->socket().parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0700U);
}

TEST_F(AgentProtocol, SecondAgentOnTheSameSocketLeavesTheFirstServing) {
  EXPECT_EQ(harness_->runAgentOnce({"--socket", harness_->socket().string()}), 0);
  auto agent = harness_->connect();
  EXPECT_EQ(agent.call("hello")["protocol"], 1);
}

TEST_F(AgentProtocol, MalformedPolicyStopsTheAgentWithAClearError) {
  AgentSetup setup;
  setup.policy = json{{"rawSigning", "yes please"}};
  EXPECT_THROW(harness_->restart(setup), std::runtime_error);
  EXPECT_NE(harness_->agentLog().find("\"rawSigning\" has the wrong type"), std::string::npos)
      << harness_->agentLog();
  setup.policy = json{{"rawSigninng", true}};
  EXPECT_THROW(harness_->restart(setup), std::runtime_error);
  EXPECT_NE(harness_->agentLog().find("unknown field \"rawSigninng\""), std::string::npos);
}

TEST_F(AgentProtocol, ManyClientsAtOnce) {
  const std::string key = harness_->keyUri("p256");
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      auto agent = harness_->connect();
      for (int i = 0; i < 20; ++i) {
        const auto r = agent.call("deriveStorageKey",
                                  {{"key", key},
                                   {"kind", i % 2 == 0 ? "public" : "private"},
                                   {"uri", "/c" + std::to_string(c) + "/" + std::to_string(i)}});
        if (r["storageKey"].get<std::string>().size() == 64) {
          ++good;
        }
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(good, 160);
  EXPECT_EQ(harness_->countPinentry("GETPIN"), 1) << "one login served every client";
}

// A request waiting for the PIN dialog must not hold up the other requests of
// its connection: they are answered first, and the waiting one after.
TEST(AgentConcurrency, ADialogDoesNotHoldUpItsConnection) {
  if (auto missing = AgentHarness::missingPrerequisite()) {
    GTEST_SKIP() << *missing;
  }
  AgentSetup setup;
  setup.pinentryDelayMs = 1500;
  AgentHarness harness(setup);
  const std::string key = harness.keyUri("p256");
  RawConnection connection(harness.socket());
  const auto request = [&](int id, const std::string& method, const json& params) {
    connection.sendMessage(
        json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump());
  };
  request(1, "deriveStorageKey", {{"key", key}, {"kind", "private"}, {"uri", "/notes"}});
  request(2, "hello", json::object());
  request(3, "deriveStorageKey", {{"key", key}, {"kind", "public"}, {"uri", "/profile"}});
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) {
    const auto reply = connection.receive();
    ASSERT_TRUE(reply.has_value());
    ASSERT_TRUE(reply->contains("result")) << reply->dump();
    order.push_back((*reply)["id"].get<int>());
  }
  EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(harness.countPinentry("GETPIN"), 1);
}

// Many connections each sending a burst of requests without waiting: every
// request gets exactly one reply with its own id and a correct result.
TEST(AgentConcurrency, PipelinedBurstsFromManyConnectionsAreAllAnswered) {
  if (auto missing = AgentHarness::missingPrerequisite()) {
    GTEST_SKIP() << *missing;
  }
  AgentHarness harness;
  const std::string key = harness.keyUri("p256");
  const auto expected = harness.connect().call(
      "deriveStorageKey", {{"key", key}, {"kind", "private"}, {"uri", "/burst"}});  // logs in
  constexpr int kConnections = 8;
  constexpr int kRequests = 200;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&] {
      RawConnection connection(harness.socket());
      std::thread writer([&] {
        for (int i = 0; i < kRequests; ++i) {
          const json params = i % 3 == 0
                                  ? json{{"key", key}, {"kind", "private"}, {"uri", "/burst"}}
                                  : json{{"key", key},
                                         {"storageKey", std::string(64, 'a')},
                                         {"seq", i},
                                         {"payload", "aGVsbG8="}};
          connection.sendMessage(json{
              {"jsonrpc", "2.0"},
              {"id", i},
              {"method", i % 3 == 0 ? "deriveStorageKey" : "signBlock"},
              {"params", params}}.dump());
        }
      });
      std::vector<bool> seen(kRequests, false);
      for (int i = 0; i < kRequests; ++i) {
        const auto reply = connection.receive();
        if (!reply || !reply->contains("result")) {
          ADD_FAILURE() << (reply ? reply->dump() : "EOF");
          break;
        }
        const int id = (*reply)["id"].get<int>();
        const bool ok =
            id % 3 == 0 ? (*reply)["result"] == expected : (*reply)["result"].contains("signature");
        const auto slot = static_cast<std::size_t>(id);
        if (id >= 0 && id < kRequests && !seen[slot] && ok) {
          seen[slot] = true;
          ++good;
        }
      }
      writer.join();
    });
  }
  for (auto& client : clients) {
    client.join();
  }
  EXPECT_EQ(good, kConnections * kRequests);
}

// Key generation holds the token on a worker; a request that needs the token
// meanwhile waits on a worker too, and the I/O thread keeps answering others.
TEST(AgentConcurrency, ABusyTokenDoesNotStopTheAgent) {
  if (auto missing = AgentHarness::missingPrerequisite()) {
    GTEST_SKIP() << *missing;
  }
  AgentHarness harness;
  const std::string key = harness.keyUri("p256");
  (void)harness.connect().call("deriveStorageKey",
                               {{"key", key}, {"kind", "private"}, {"uri", "/warm"}});
  RawConnection generating(harness.socket());
  RawConnection waiting(harness.socket());
  RawConnection other(harness.socket());
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  generating.sendMessage(json{{"jsonrpc", "2.0"},
                              {"id", 1},
                              {"method", "generateKey"},
                              {"params", {{"type", "rsa"}, {"label", "busy-token"}}}}
                             .dump());
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  waiting.sendMessage(json{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "status"}}.dump());
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  other.sendMessage(json{{"jsonrpc", "2.0"}, {"id", 3}, {"method", "hello"}}.dump());
  const auto hello = other.receive();
  const auto helloAt = Clock::now();
  const auto generated = generating.receive();
  const auto generatedAt = Clock::now();
  const auto status = waiting.receive();
  ASSERT_TRUE(hello && generated && status);
  EXPECT_TRUE(hello->contains("result"));
  EXPECT_TRUE(generated->contains("result")) << generated->dump();
  EXPECT_TRUE(status->contains("result")) << status->dump();
  // RSA-2048 generation on SoftHSM2 takes tens of milliseconds or more; only
  // then does the order say anything.
  // RSA-2048 generation on SoftHSM2 takes 100 ms or more here; only a
  // generation that long says anything about the hello.
  const auto helloTook = helloAt - start;
  const auto generationTook = generatedAt - start;
  if (generationTook > std::chrono::milliseconds(60)) {
    EXPECT_LT(helloTook, generationTook / 2)
        << "hello waited for the key generation: "
        << std::chrono::duration_cast<std::chrono::milliseconds>(helloTook).count() << " ms of "
        << std::chrono::duration_cast<std::chrono::milliseconds>(generationTook).count() << " ms";
  }
}

// The vendor module runs in a helper process: after real token work the
// agent's own address space holds no PKCS#11 module, while its helper's does.
TEST_F(AgentProtocol, TheAgentMapsNoVendorModule) {
  auto agent = harness_->connect();
  agent.call("signBlock", {{"key", harness_->keyUri("ed25519")},
                           {"uri", "/profile"},
                           {"kind", "public"},
                           {"seq", 1},
                           {"payload", "YmxvY2s="}});
  const auto mapsOf = [](pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string agentMaps = mapsOf(harness_->pid());
  ASSERT_FALSE(agentMaps.empty());
  EXPECT_EQ(agentMaps.find("softhsm"), std::string::npos) << agentMaps;
  EXPECT_EQ(agentMaps.find("pkcs11"), std::string::npos) << "no module, p11-kit's proxy included";
  // Its helper, a child of the agent, has the module.
  bool helperHasIt = false;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream stat(entry.path() / "stat");
    std::string pid;
    std::string comm;
    std::string state;
    pid_t parent = 0;
    stat >> pid >> comm >> state >> parent;
    if (parent == harness_->pid() &&
        mapsOf(std::stoi(name)).find("libsofthsm2") != std::string::npos) {
      helperHasIt = true;
    }
  }
  EXPECT_TRUE(helperHasIt) << "no child of the agent runs SoftHSM2";
}

}  // namespace
}  // namespace p2pcp::testing
