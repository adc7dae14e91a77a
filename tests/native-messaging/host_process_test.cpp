// SPDX-License-Identifier: Apache-2.0
// The real p2pcp-native-host process between pipes (as a browser runs it) and
// a real agent on a SoftHSM2 token.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent_harness.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;
constexpr const char* kDevOrigin = "chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa/";
// The sender origins the extension attaches: its own pages (the popup), and a web page.
constexpr const char* kPopup = "chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa";
constexpr const char* kPage = "https://app.example";

class HostProcess {
 public:
  HostProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    int toHost[2];
    int fromHost[2];
    if (::pipe2(toHost, O_CLOEXEC) != 0 || ::pipe2(fromHost, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    std::vector<std::string> envStrings = environmentWith(env);
    std::vector<char*> envp;
    envp.reserve(envStrings.size() + 1);
    for (auto& s : envStrings) {
      envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> argv{P2PCP_NATIVE_HOST};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> argp;
    argp.reserve(argv.size() + 1);
    for (auto& a : argv) {
      argp.push_back(a.data());
    }
    argp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, toHost[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fromHost[1], STDOUT_FILENO);
    const int rc = ::posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(toHost[0]);
    ::close(fromHost[1]);
    in_ = toHost[1];
    out_ = fromHost[0];
    if (rc != 0) {
      throw std::runtime_error("cannot start the host");
    }
  }
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;
  HostProcess(HostProcess&&) = delete;
  HostProcess& operator=(HostProcess&&) = delete;
  ~HostProcess() {
    closeInput();
    ::close(out_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  void sendRaw(const std::string& bytes) const { writeFully(in_, bytes.data(), bytes.size()); }
  void send(const json& message) const {
    sendRaw(makeFrame(message.dump(), LengthOrder::Native, std::size_t{1} << 30U));
  }
  // The next frame, or nullopt at end of stream; fails the test after 20 s.
  [[nodiscard]] std::optional<json> receive() const {
    pollfd fd{out_, POLLIN, 0};
    if (::poll(&fd, 1, 20000) <= 0) {
      ADD_FAILURE() << "the host did not answer";
      return std::nullopt;
    }
    const auto text = readFrame(out_, LengthOrder::Native, std::size_t{1} << 30U);
    if (!text) {
      return std::nullopt;
    }
    EXPECT_LE(text->size(), 1024U * 1024U) << "a frame over the browser's 1 MiB limit";
    return json::parse(*text);
  }
  void closeInput() {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
  }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
};

std::string codeOf(const std::optional<json>& reply) {
  if (!reply) {
    return "EOF";
  }
  return reply->contains("error") ? (*reply)["error"]["data"]["error"].get<std::string>() : "OK";
}

class NativeHost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    harness_ = std::make_unique<AgentHarness>();
  }
  std::unique_ptr<AgentHarness> harness_;
};

TEST_F(NativeHost, RelaysRequestsWithTheOriginAndExitsWhenTheBrowserCloses) {
  HostProcess host({kDevOrigin}, harness_->environment());
  host.send({{"id", 1}, {"method", "hello"}, {"origin", kPage}});
  const auto hello = host.receive();
  ASSERT_EQ(codeOf(hello), "OK") << hello->dump();
  EXPECT_EQ((*hello)["id"], 1);
  EXPECT_EQ((*hello)["result"]["protocol"], 1);
  // The page's origin decides what is signed.
  host.send({{"id", "login"},
             {"method", "signLogin"},
             {"origin", "https://app.example"},
             {"params",
              {{"key", harness_->keyFingerprint("p256")},
               {"indexServer", "wss://index.example/"},
               {"nonce", "MDEyMzQ1Njc4OWFiY2RlZg=="},
               {"timestamp", 1}}}});
  const auto login = host.receive();
  ASSERT_EQ(codeOf(login), "OK") << login->dump();
  EXPECT_EQ((*login)["id"], "login");
  host.closeInput();
  EXPECT_EQ(host.wait(), 0);
}

// Key choice through the host: a page with site access lists the keys without
// their URIs and names one by fingerprint; only the popup sets the default.
TEST_F(NativeHost, APageListsKeysAndThePopupChoosesTheDefault) {
  auto local = harness_->connect();
  local.call("grantConsent", {{"origin", kPage}, {"access", "site"}});
  HostProcess host({kDevOrigin}, harness_->environment());
  host.send({{"id", 1}, {"method", "listKeys"}, {"origin", kPage}});
  const auto keys = host.receive();
  ASSERT_EQ(codeOf(keys), "OK") << keys->dump();
  ASSERT_FALSE((*keys)["result"].empty());
  std::string fingerprint;
  for (const auto& key : (*keys)["result"]) {
    EXPECT_FALSE(key.contains("uri")) << key.dump();
    EXPECT_FALSE(key.contains("tokenUri")) << key.dump();
    if (key["label"] == "fixture-p256") {
      fingerprint = key["fingerprint"];
    }
  }
  ASSERT_EQ(fingerprint.size(), 64U) << keys->dump();
  host.send({{"id", 2},
             {"method", "setDefaultKey"},
             {"origin", kPage},
             {"params", {{"key", fingerprint}}}});
  EXPECT_EQ(codeOf(host.receive()), "NOT_ALLOWED_BY_POLICY");
  host.send({{"id", 3},
             {"method", "setDefaultKey"},
             {"origin", kPopup},
             {"params", {{"key", fingerprint}}}});
  const auto chosen = host.receive();
  ASSERT_EQ(codeOf(chosen), "OK") << chosen->dump();
  EXPECT_EQ((*chosen)["result"]["defaultKey"]["label"], "fixture-p256");
  host.send({{"id", 4}, {"method", "getPublicKey"}, {"origin", kPage}});
  const auto identity = host.receive();
  ASSERT_EQ(codeOf(identity), "OK") << identity->dump();
  EXPECT_EQ((*identity)["result"]["fingerprint"], fingerprint);
}

TEST_F(NativeHost, FirefoxCallerIsAccepted) {
  HostProcess host({"/tmp/dev.p2pcp.agent.json", "key-agent@p2pcp.dev"}, harness_->environment());
  host.send({{"id", 1}, {"method", "hello"}, {"origin", kPage}});
  EXPECT_EQ(codeOf(host.receive()), "OK");
}

TEST_F(NativeHost, RefusesExtensionsThatAreNotAllowed) {
  HostProcess host({"chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"},
                   harness_->environment());
  host.send({{"id", 1}, {"method", "hello"}});
  EXPECT_EQ(codeOf(host.receive()), "EXTENSION_NOT_ALLOWED");
  HostProcess noCaller({}, harness_->environment());
  noCaller.send({{"id", 1}, {"method", "hello"}});
  EXPECT_EQ(codeOf(noCaller.receive()), "EXTENSION_NOT_ALLOWED");
}

TEST_F(NativeHost, FrameOver64MiBIsRefusedWithoutReadingIt) {
  HostProcess host({kDevOrigin}, harness_->environment());
  std::string header(4, '\0');
  encodeLength(64U * 1024U * 1024U + 1U, reinterpret_cast<std::uint8_t*>(header.data()),
               LengthOrder::Native);
  host.sendRaw(header);
  EXPECT_EQ(codeOf(host.receive()), "MESSAGE_TOO_LARGE");
  EXPECT_EQ(host.wait(), 1);
}

TEST_F(NativeHost, TruncatedFrameEndsTheHostQuietly) {
  HostProcess host({kDevOrigin}, harness_->environment());
  std::string frame = makeFrame(R"({"id":1,"method":"hello"})", LengthOrder::Native, 1024);
  frame.resize(frame.size() - 3);
  host.sendRaw(frame);
  host.closeInput();
  EXPECT_EQ(host.receive(), std::nullopt);
  EXPECT_EQ(host.wait(), 1);
}

TEST_F(NativeHost, ReplyOverOneMiBBecomesATypedErrorAndTheHostGoesOn) {
  HostProcess host({kDevOrigin}, harness_->environment());
  host.send({{"id", 1},
             {"method", "seal"},
             {"origin", kPage},
             {"params",
              {{"key", harness_->keyFingerprint("p256")},
               {"uri", "/big"},
               {"plaintext", std::string(1100000, 'A')}}}});  // ~800 KiB, sealed > 1 MiB
  const auto reply = host.receive();
  EXPECT_EQ(codeOf(reply), "MESSAGE_TOO_LARGE");
  EXPECT_EQ((*reply)["id"], 1);
  host.send({{"id", 2}, {"method", "hello"}, {"origin", kPage}});
  EXPECT_EQ(codeOf(host.receive()), "OK");
}

TEST_F(NativeHost, SurvivesAnAgentRestartAndStartsTheAgentItself) {
  auto env = harness_->environment();
  env.erase("P2PCP_NO_AUTOSTART");
  HostProcess host({kDevOrigin}, env);
  host.send({{"id", 1}, {"method", "hello"}, {"origin", kPopup}});
  ASSERT_EQ(codeOf(host.receive()), "OK");
  harness_->stop();
  host.send({{"id", 2}, {"method", "hello"}, {"origin", kPopup}});
  const auto reply = host.receive();
  ASSERT_EQ(codeOf(reply), "OK") << reply->dump();
  // The host started an agent of its own: stop it by the pid it reports.
  auto client = harness_->connect();
  const auto pid = client.call("status")["pid"].get<pid_t>();
  ::kill(pid, SIGTERM);
}

// The agent processes serving this test's socket, found through /proc (never by name).
std::vector<pid_t> agentsServing(const std::filesystem::path& socket) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find("p2pcp-agent") != std::string::npos &&
        cmdline.find(socket.string()) != std::string::npos) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

TEST_F(NativeHost, TwoHostsStartingTheAgentAtOnceShareOne) {
  harness_->stop();
  auto env = harness_->environment();
  env.erase("P2PCP_NO_AUTOSTART");
  HostProcess first({kDevOrigin}, env);
  HostProcess second({kDevOrigin}, env);
  first.send({{"id", 1}, {"method", "status"}, {"origin", kPopup}});
  second.send({{"id", 1}, {"method", "status"}, {"origin", kPopup}});
  const auto a = first.receive();
  const auto b = second.receive();
  ASSERT_EQ(codeOf(a), "OK");
  ASSERT_EQ(codeOf(b), "OK");
  EXPECT_FALSE((*a)["result"].contains("pid"))
      << "the agent's process details are for local programs";
  const auto pids = agentsServing(harness_->socket());
  EXPECT_EQ(pids.size(), 1U);
  for (const pid_t pid : pids) {
    ::kill(pid, SIGTERM);
  }
}

// Everything through the host is a browser request: nothing passes for a
// local program, and the caller table is applied before anything is relayed.
TEST_F(NativeHost, BrowserRequestsNeverReachWhatIsNotTheirs) {
  const std::string key = harness_->keyFingerprint("p256");
  auto local = harness_->connect();
  local.call("login", json::object());
  const auto keysBefore = local.call("listKeys").size();
  HostProcess host({kDevOrigin}, harness_->environment());
  // No origin at all: refused by the host, never relayed as a local request.
  host.send({{"id", 1}, {"method", "lock"}});
  EXPECT_EQ(codeOf(host.receive()), "BAD_REQUEST");
  host.send({{"id", 2},
             {"method", "generateKey"},
             {"params", {{"type", "ec-p256"}, {"label", "planted"}}}});
  EXPECT_EQ(codeOf(host.receive()), "BAD_REQUEST");
  // Methods no page may call.
  for (const char* method : {"lock", "generateKey", "revokeConsent", "grantConsent", "status",
                             "listTokens", "setDefaultKey", "login", "listConsents"}) {
    host.send({{"id", method}, {"method", method}, {"origin", kPage}});
    EXPECT_EQ(codeOf(host.receive()), "NOT_ALLOWED_BY_POLICY") << method;
  }
  // The popup may lock and manage consents, but never generate keys or sign.
  host.send({{"id", 3},
             {"method", "generateKey"},
             {"origin", kPopup},
             {"params", {{"type", "ec-p256"}, {"label", "planted"}}}});
  EXPECT_EQ(codeOf(host.receive()), "NOT_ALLOWED_BY_POLICY");
  host.send({{"id", 4},
             {"method", "signLogin"},
             {"origin", kPopup},
             {"params",
              {{"key", key},
               {"origin", "https://bank.example"},
               {"indexServer", "wss://index.example/"},
               {"nonce", "MDEyMzQ1Njc4OWFiY2RlZg=="},
               {"timestamp", 1}}}});
  EXPECT_EQ(codeOf(host.receive()), "NOT_ALLOWED_BY_POLICY");
  // A page's hello names nothing of the person or the token, and lists only what it may call.
  host.send({{"id", 5}, {"method", "hello"}, {"origin", kPage}});
  const auto hello = host.receive();
  ASSERT_EQ(codeOf(hello), "OK");
  const std::string text = hello->dump();
  for (const char* secret : {"p2pcp-test", "fixture-", "serial", "pkcs11:"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << text;
  }
  for (const auto& method : (*hello)["result"]["methods"]) {
    EXPECT_NE(method, "lock");
    EXPECT_NE(method, "listKeys");
  }
  // The agent did none of it: still logged in, no key added.
  bool loggedIn = false;
  for (const auto& token : local.call("listTokens")) {
    loggedIn = loggedIn || token["loggedIn"].get<bool>();
  }
  EXPECT_TRUE(loggedIn);
  EXPECT_EQ(local.call("listKeys").size(), keysBefore);
}

// Token events through the host: addressed to the page's origin, naming no
// token, and still coming after the agent restarted (the host renews the
// subscriptions it relayed on its new agent connection).
TEST_F(NativeHost, TokenEventsReachThePagesOriginAndSurviveAnAgentRestart) {
  harness_->connect().call("grantConsent", {{"origin", kPage}, {"access", "site"}});
  HostProcess host({kDevOrigin}, harness_->environment());
  host.send({{"id", 1}, {"method", "subscribe"}, {"origin", kPage}});
  ASSERT_EQ(codeOf(host.receive()), "OK");
  harness_->restart(AgentSetup{});
  host.send({{"id", 2}, {"method", "hello"}, {"origin", kPage}});
  ASSERT_EQ(codeOf(host.receive()), "OK");
  for (const auto& entry : std::filesystem::directory_iterator(harness_->home() / "tokens")) {
    std::filesystem::remove_all(entry.path());
  }
  const auto event = host.receive();
  ASSERT_TRUE(event);
  EXPECT_EQ(*event, json::parse(R"({"jsonrpc":"2.0","method":"tokenRemoved","params":{},
                                    "origin":"https://app.example"})"));
}

}  // namespace
}  // namespace p2pcp::testing
