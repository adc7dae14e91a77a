// SPDX-License-Identifier: Apache-2.0
// The real agent on the fault module (over the harness's SoftHSM2 token): the
// PIN states SoftHSM2 never reaches, and token failures at login, key lookup,
// session opening and signing. Each fault must give its typed error
// (docs/protocol.md), spend no PIN try of the agent's own (one C_Login at most
// per request, never a retry) and leave the agent serving: the next request
// succeeds, and other clients are answered.
//
// Each module runs in a helper process of its own, so a module that aborts or
// hangs costs its tokens (TOKEN_UNAVAILABLE), not the agent.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"
#include "dos_kit.hpp"
#include "fault_control.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

json tryCall(client::AgentClient& agent, const std::string& method,
             const json& params = json::object()) {
  try {
    return {{"result", agent.call(method, params)}};
  } catch (const client::AgentCallError& e) {
    return {{"error", e.error()}};
  }
}

std::string codeOf(const json& outcome) {
  return outcome.contains("error") ? outcome["error"]["data"]["error"].get<std::string>() : "OK";
}

json dataOf(const json& outcome) {
  return outcome.contains("error") ? outcome["error"].value("data", json::object()) : json{};
}

// A public block signature: one C_Sign with the token key on every request
// (nothing is cached), after login.
json signBlock(client::AgentClient& agent, const std::string& key) {
  return tryCall(
      agent, "signBlock",
      {{"key", key}, {"uri", "/profile"}, {"kind", "public"}, {"seq", 1}, {"payload", "YmxvY2s="}});
}

// The processes whose parent is `parent` (the agent's helpers).
std::vector<pid_t> childrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream stat(entry.path() / "stat");
    std::string pid;
    std::string comm;
    std::string state;
    pid_t ppid = 0;
    stat >> pid >> comm >> state >> ppid;
    if (ppid == parent) {
      children.push_back(std::stoi(name));
    }
  }
  return children;
}

// An agent whose token is reached through the fault module.
class FaultyAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
  }

  void TearDown() override {
    if (!harness_) {
      return;
    }
    // Stopped here (SIGTERM), so that a sanitizer build's reports are in the log.
    faults_.clearRules();
    harness_->stop();
    const std::string log = harness_->agentLog();
    for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
      EXPECT_EQ(log.find(report), std::string::npos) << report << " in the agent's log:\n" << log;
    }
  }

  AgentHarness& start(AgentSetup setup = {}) {
    setup.module = FaultControl::modulePath();
    setup.extraEnv = faults_.environment();
    // A hung module is given up on after 3 s here, not the minute a slow card gets.
    setup.extraEnv["P2PCP_TEST_TOKEN_TIMEOUT_MS"] = "3000";
    setup_ = setup;
    harness_ = std::make_unique<AgentHarness>(setup);
    return *harness_;
  }

  // The agent answers `hello` on a new connection.
  void expectServing() const {
    auto other = harness_->connect();
    EXPECT_EQ(codeOf(tryCall(other, "hello")), "OK");
  }

  // The PIN dialogs' warnings so far (SETERROR), in order.
  [[nodiscard]] std::vector<std::string> pinWarnings() const {
    std::vector<std::string> warnings;
    for (const auto& line : harness_->pinentryLog()) {
      if (line.value("cmd", "") == "SETERROR") {
        warnings.push_back(line.value("arg", ""));
      }
    }
    return warnings;
  }

  FaultControl faults_;
  AgentSetup setup_;
  std::unique_ptr<AgentHarness> harness_;
};

// --- The PIN states SoftHSM2 cannot reach -------------------------------------------------

TEST_F(FaultyAgent, CountLowAndFinalTryAreShownInThePinDialog) {
  AgentHarness& harness = start();
  auto agent = harness.connect();
  faults_.setRule({{"call", "C_GetTokenInfo"}, {"flags", {"CKF_USER_PIN_COUNT_LOW"}}});
  EXPECT_EQ(codeOf(tryCall(agent, "login")), "OK");
  EXPECT_EQ(agent.call("listTokens")[0].value("pinState", ""), "countLow");
  ASSERT_EQ(pinWarnings().size(), 1U);
  EXPECT_NE(pinWarnings()[0].find("few tries are left"), std::string::npos) << pinWarnings()[0];

  agent.call("lock");
  faults_.setRule({{"call", "C_GetTokenInfo"}, {"flags", {"CKF_USER_PIN_FINAL_TRY"}}});
  EXPECT_EQ(codeOf(tryCall(agent, "login")), "OK");
  ASSERT_EQ(pinWarnings().size(), 2U);
  EXPECT_NE(pinWarnings()[1].find("FINAL TRY"), std::string::npos) << pinWarnings()[1];
  EXPECT_EQ(harness.countPinentry("GETPIN"), 2);
  EXPECT_EQ(faults_.count("C_Login"), 2) << "one C_Login per login";
}

TEST_F(FaultyAgent, ALockedPinIsRefusedBeforeAnyPrompt) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  faults_.setRule({{"call", "C_GetTokenInfo"}, {"flags", {"CKF_USER_PIN_LOCKED"}}});
  const json login = tryCall(agent, "login");
  EXPECT_EQ(codeOf(login), "PIN_LOCKED") << login.dump();
  EXPECT_EQ(dataOf(login).value("pinState", ""), "locked") << login.dump();
  const json derive =
      tryCall(agent, "deriveStorageKey", {{"key", key}, {"kind", "private"}, {"uri", "/notes"}});
  EXPECT_EQ(codeOf(derive), "PIN_LOCKED") << derive.dump();
  EXPECT_EQ(codeOf(signBlock(agent, key)), "PIN_LOCKED");
  EXPECT_EQ(harness.countPinentry("GETPIN"), 0) << "no dialog for a blocked PIN";
  EXPECT_EQ(faults_.count("C_Login"), 0) << "nothing sent to the token";
  expectServing();

  faults_.clearRules();  // unblocked (by the administrator's PUK, say)
  EXPECT_EQ(codeOf(signBlock(agent, key)), "OK");
  EXPECT_EQ(harness.countPinentry("GETPIN"), 1);
  EXPECT_EQ(faults_.count("C_Login"), 1);
}

TEST_F(FaultyAgent, AWrongPinIsReportedWithThePinStateAndNeverRetried) {
  AgentHarness& harness = start();
  auto agent = harness.connect();
  // The token already counts a wrong PIN; this one leaves a single try.
  faults_.setRules({{{"call", "C_GetTokenInfo"}, {"flags", {"CKF_USER_PIN_COUNT_LOW"}}},
                    {{"call", "C_Login"},
                     {"rv", "CKR_PIN_INCORRECT"},
                     {"times", 1},
                     {"flags", {"CKF_USER_PIN_FINAL_TRY"}}}});
  const json wrong = tryCall(agent, "login");
  EXPECT_EQ(codeOf(wrong), "PIN_INCORRECT") << wrong.dump();
  EXPECT_EQ(dataOf(wrong).value("pinState", ""), "finalTry") << "the state after the attempt";
  EXPECT_EQ(faults_.count("C_Login"), 1) << "never retried";
  EXPECT_EQ(harness.countPinentry("GETPIN"), 1);
  ASSERT_EQ(pinWarnings().size(), 1U);
  EXPECT_NE(pinWarnings()[0].find("few tries are left"), std::string::npos);
  expectServing();

  const json next = tryCall(agent, "login");
  EXPECT_EQ(codeOf(next), "OK") << next.dump();
  ASSERT_EQ(pinWarnings().size(), 2U);
  EXPECT_NE(pinWarnings()[1].find("FINAL TRY"), std::string::npos) << pinWarnings()[1];
  EXPECT_EQ(faults_.count("C_Login"), 2);
  EXPECT_EQ(harness.countPinentry("GETPIN"), 2);
}

TEST_F(FaultyAgent, APinTheTokenBlocksAtLoginIsPinLockedAndNotTriedAgain) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  faults_.setRule(
      {{"call", "C_Login"}, {"rv", "CKR_PIN_LOCKED"}, {"flags", {"CKF_USER_PIN_LOCKED"}}});
  const json locked = tryCall(agent, "login");
  EXPECT_EQ(codeOf(locked), "PIN_LOCKED") << locked.dump();
  EXPECT_EQ(dataOf(locked).value("pinState", ""), "locked");
  EXPECT_EQ(faults_.count("C_Login"), 1);
  // Known blocked now: the next request asks nobody and sends nothing.
  EXPECT_EQ(codeOf(signBlock(agent, key)), "PIN_LOCKED");
  EXPECT_EQ(faults_.count("C_Login"), 1);
  EXPECT_EQ(harness.countPinentry("GETPIN"), 1);
  expectServing();

  // A card that answers CKR_PIN_LOCKED without setting the flag.
  faults_.setRule({{"call", "C_Login"}, {"rv", "CKR_PIN_LOCKED"}, {"times", 1}});
  faults_.clearLog();
  EXPECT_EQ(codeOf(tryCall(agent, "login")), "PIN_LOCKED");
  EXPECT_EQ(faults_.count("C_Login"), 1);
  EXPECT_EQ(codeOf(tryCall(agent, "login")), "OK");
  EXPECT_EQ(faults_.count("C_Login"), 2);
}

// --- Token failures: the typed error, then the agent goes on ------------------------------

struct Expected {
  const char* ckr;
  const char* code;  // nullptr: any typed error naming the ckr (see DeviceError... below)
};

// CKR_DEVICE_ERROR's code is left open here: see DeviceErrorIsATokenErrorNotARemoval.
constexpr std::array kTokenFaults{
    Expected{"CKR_DEVICE_REMOVED", "TOKEN_REMOVED"},
    Expected{"CKR_TOKEN_NOT_PRESENT", "TOKEN_REMOVED"},
    Expected{"CKR_SESSION_HANDLE_INVALID", "TOKEN_REMOVED"},
    Expected{"CKR_GENERAL_ERROR", "TOKEN_ERROR"},
    Expected{"CKR_DEVICE_ERROR", nullptr},
};

void expectTyped(const json& outcome, const Expected& expected) {
  if (expected.code != nullptr) {
    EXPECT_EQ(codeOf(outcome), expected.code) << outcome.dump();
  } else {
    EXPECT_TRUE(codeOf(outcome) == "TOKEN_ERROR" || codeOf(outcome) == "TOKEN_REMOVED")
        << outcome.dump();
  }
  EXPECT_EQ(dataOf(outcome).value("ckr", ""), expected.ckr) << outcome.dump();
}

TEST_F(FaultyAgent, FaultsAtLoginGiveTheirTypedErrors) {
  AgentHarness& harness = start();
  auto agent = harness.connect();
  for (const auto& expected : kTokenFaults) {
    SCOPED_TRACE(expected.ckr);
    faults_.setRule({{"call", "C_Login"}, {"rv", expected.ckr}, {"times", 1}});
    faults_.clearLog();
    const int prompts = harness.countPinentry("GETPIN");
    expectTyped(tryCall(agent, "login"), expected);
    EXPECT_EQ(faults_.count("C_Login"), 1) << "never retried";
    EXPECT_EQ(harness.countPinentry("GETPIN"), prompts + 1);
    expectServing();
    EXPECT_EQ(codeOf(tryCall(agent, "login")), "OK");
    EXPECT_EQ(faults_.count("C_Login"), 2);
    agent.call("lock");
  }
}

TEST_F(FaultyAgent, FaultsAtOpeningTheSessionGiveTheirTypedErrors) {
  AgentHarness& harness = start();
  for (const auto& expected : kTokenFaults) {
    SCOPED_TRACE(expected.ckr);
    // A new agent has no session yet: its first login opens one.
    harness.restart(setup_);
    faults_.setRule({{"call", "C_OpenSession"}, {"rv", expected.ckr}, {"times", 1}});
    faults_.clearLog();
    auto agent = harness.connect();
    expectTyped(tryCall(agent, "login"), expected);
    EXPECT_EQ(faults_.count("C_Login"), 0);
    expectServing();
    EXPECT_EQ(codeOf(tryCall(agent, "login")), "OK");
    EXPECT_EQ(faults_.count("C_Login"), 1);
  }
}

TEST_F(FaultyAgent, FaultsAtSigningGiveTheirTypedErrors) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  for (const auto& expected : kTokenFaults) {
    SCOPED_TRACE(expected.ckr);
    faults_.setRule({{"call", "C_Sign"}, {"rv", expected.ckr}, {"times", 1}});
    faults_.clearLog();
    if (std::string(expected.ckr) == "CKR_SESSION_HANDLE_INVALID") {
      // A stale session (a card pulled and put back): the login went with it;
      // the request asks for the PIN once and signs again.
      const int prompts = harness.countPinentry("GETPIN");
      const json resigned = signBlock(agent, key);
      EXPECT_EQ(codeOf(resigned), "OK") << resigned.dump();
      EXPECT_EQ(faults_.count("C_SignInit"), 2) << "the failed try and one more";
      EXPECT_EQ(faults_.count("C_Login"), 1);
      EXPECT_EQ(harness.countPinentry("GETPIN"), prompts + 1);
      continue;
    }
    expectTyped(signBlock(agent, key), expected);
    EXPECT_EQ(faults_.count("C_Sign"), 1) << "an operation is not repeated on a failing token";
    EXPECT_EQ(faults_.count("C_Login"), 0);
    expectServing();
    faults_.clearLog();
    const json next = signBlock(agent, key);
    EXPECT_EQ(codeOf(next), "OK") << next.dump();
    EXPECT_LE(faults_.count("C_Login"), 1) << "at most one login for one request";
  }
}

TEST_F(FaultyAgent, AUserLoggedOutUnderASignatureIsCheckedAndSignedOnce) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  faults_.setRule({{"call", "C_Sign"}, {"rv", "CKR_USER_NOT_LOGGED_IN"}, {"times", 1}});
  faults_.clearLog();
  // The session is still logged in (only this C_Sign said otherwise): the agent
  // checks, finds it logged in, asks nobody and signs again.
  const json signed_ = signBlock(agent, key);
  EXPECT_EQ(codeOf(signed_), "OK") << signed_.dump();
  EXPECT_EQ(faults_.count("C_Sign", "CKR_USER_NOT_LOGGED_IN"), 1);
  EXPECT_EQ(faults_.count("C_Login"), 0);
  EXPECT_EQ(harness.countPinentry("GETPIN"), 1);

  // A token that keeps saying so: one more try, then a typed error, no loop.
  faults_.setRule({{"call", "C_Sign"}, {"rv", "CKR_USER_NOT_LOGGED_IN"}});
  faults_.clearLog();
  const json refused = signBlock(agent, key);
  EXPECT_EQ(codeOf(refused), "TOKEN_ERROR") << refused.dump();
  EXPECT_EQ(dataOf(refused).value("ckr", ""), "CKR_USER_NOT_LOGGED_IN");
  EXPECT_EQ(faults_.count("C_Sign"), 2) << "the first try and one more";
  EXPECT_LE(faults_.count("C_Login"), 1);
  expectServing();
  faults_.clearRules();
  EXPECT_EQ(codeOf(signBlock(agent, key)), "OK");
}

TEST_F(FaultyAgent, FaultsAtFindingTheKeyGiveTheirTypedErrors) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  for (const auto& expected : kTokenFaults) {
    SCOPED_TRACE(expected.ckr);
    // A login drops the key lists (private keys become visible), so the next
    // request looks its key up on the token again.
    agent.call("lock");
    ASSERT_EQ(codeOf(tryCall(agent, "login")), "OK");
    faults_.setRule({{"call", "C_FindObjectsInit"}, {"rv", expected.ckr}, {"times", 1}});
    faults_.clearLog();
    const int prompts = harness.countPinentry("GETPIN");
    if (std::string(expected.ckr) == "CKR_SESSION_HANDLE_INVALID") {
      // A stale session (the card was pulled and put back since the last
      // look): the agent opens a new one and looks once more.
      const json recovered = signBlock(agent, key);
      EXPECT_EQ(codeOf(recovered), "OK") << recovered.dump();
      EXPECT_EQ(faults_.count("C_OpenSession"), 1) << "one new session";
      // Closing the old session logged the token out: the PIN is asked once.
      EXPECT_EQ(faults_.count("C_Login"), 1);
      EXPECT_EQ(harness.countPinentry("GETPIN"), prompts + 1);
      continue;
    }
    expectTyped(signBlock(agent, key), expected);
    EXPECT_EQ(faults_.count("C_Login"), 0);
    EXPECT_EQ(harness.countPinentry("GETPIN"), prompts);
    expectServing();
    if (std::string(expected.ckr) == "CKR_GENERAL_ERROR") {
      // The session survives: the next request signs with the same login.
      // (After the codes that mean the token went away, see the next test.)
      const json next = signBlock(agent, key);
      EXPECT_EQ(codeOf(next), "OK") << next.dump();
      EXPECT_EQ(harness.countPinentry("GETPIN"), prompts);
    }
  }
}

// Issue 8: an operation that finds the token gone drops that token's login and
// the next request asks for the PIN again (once).
TEST_F(FaultyAgent, AfterTheTokenWentAwayDuringAKeyLookupTheNextRequestLogsInAgain) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  ASSERT_EQ(codeOf(tryCall(agent, "login")), "OK");
  faults_.setRule({{"call", "C_FindObjectsInit"}, {"rv", "CKR_DEVICE_REMOVED"}, {"times", 1}});
  EXPECT_EQ(codeOf(signBlock(agent, key)), "TOKEN_REMOVED");
  faults_.clearLog();
  const json next = signBlock(agent, key);
  EXPECT_EQ(codeOf(next), "OK") << next.dump();
  EXPECT_EQ(faults_.count("C_Login"), 1);
  EXPECT_EQ(harness.countPinentry("GETPIN"), 2);
}

TEST_F(FaultyAgent, ATokenPulledDuringASignatureIsReportedAndBackAfterAFreshLogin) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  faults_.setRule({{"call", "C_Sign"}, {"tokenPresent", false}});
  const json pulled = signBlock(agent, key);
  EXPECT_EQ(codeOf(pulled), "TOKEN_REMOVED") << pulled.dump();
  EXPECT_EQ(dataOf(pulled).value("ckr", ""), "CKR_DEVICE_REMOVED");
  const json absent = signBlock(agent, key);
  EXPECT_NE(codeOf(absent), "OK") << absent.dump();
  expectServing();

  faults_.clearRules();  // put back: logged out, as a real card would be
  faults_.clearLog();
  const json back = signBlock(agent, key);
  EXPECT_EQ(codeOf(back), "OK") << back.dump();
  EXPECT_EQ(faults_.count("C_Login"), 1);
  EXPECT_EQ(harness.countPinentry("GETPIN"), 2);
}

// docs/protocol.md: TOKEN_REMOVED is "the token went away", TOKEN_ERROR "any
// other PKCS#11 failure". A device error is not a removal.
TEST_F(FaultyAgent, DeviceErrorIsATokenErrorNotARemoval) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  faults_.setRule({{"call", "C_Sign"}, {"rv", "CKR_DEVICE_ERROR"}, {"times", 1}});
  const json failed = signBlock(agent, key);
  EXPECT_EQ(codeOf(failed), "TOKEN_ERROR") << failed.dump();
  EXPECT_EQ(dataOf(failed).value("ckr", ""), "CKR_DEVICE_ERROR");
}

// signBlocks (docs/protocol.md, "Bulk methods"): public blocks are signed one by
// one on the token; a device error fails its own item only, a removal ends the
// session for the public blocks after it, without more token calls, and the
// private blocks (write keys, never the token) are signed all the same.
TEST_F(FaultyAgent, ATokenPulledDuringABatchEndsItsPublicBlocksOnly) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("p256");  // its root is ECDH: C_Sign is for blocks only
  auto agent = harness.connect();
  ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  const auto block = [](const std::string& kind, int seq) {
    return json{{"uri", "/b" + std::to_string(seq)},
                {"kind", kind},
                {"seq", seq},
                {"payloadSha256", std::string(64, '0')}};
  };
  const json blocks = {block("public", 1), block("private", 2), block("public", 3),
                       block("public", 4), block("private", 5), block("public", 6),
                       block("public", 7)};
  // A signature is two C_Sign calls (length, then signature). Item 3 meets a
  // device error in its first (its own failure), item 4 a removal (the session's).
  faults_.setRules({{{"call", "C_Sign"}, {"rv", "CKR_DEVICE_ERROR"}, {"skip", 2}, {"times", 1}},
                    {{"call", "C_Sign"}, {"tokenPresent", false}, {"skip", 3}}});
  faults_.clearLog();
  const json r = tryCall(agent, "signBlocks", {{"key", key}, {"blocks", blocks}});
  ASSERT_EQ(codeOf(r), "OK") << r.dump();
  const json& results = r["result"]["results"];
  ASSERT_EQ(results.size(), blocks.size());
  const auto itemCode = [&](std::size_t i) {
    return results[i].contains("error") ? results[i]["error"]["data"].value("error", "?") : "OK";
  };
  EXPECT_EQ(itemCode(0), "OK");
  EXPECT_EQ(itemCode(1), "OK");
  EXPECT_EQ(itemCode(2), "TOKEN_ERROR");
  EXPECT_EQ(itemCode(3), "TOKEN_REMOVED");
  EXPECT_EQ(itemCode(4), "OK") << "a private block needs no token";
  EXPECT_EQ(itemCode(5), "TOKEN_REMOVED");
  EXPECT_EQ(itemCode(6), "TOKEN_REMOVED");
  EXPECT_EQ(faults_.count("C_Sign"), 4) << "no token call after the removal";
  expectServing();
}

// --- What needs each module in a helper process (issue 8) ---------------------------------

TEST_F(FaultyAgent, OtherClientsAreAnsweredWhileASlowSignatureRuns) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  {
    auto agent = harness.connect();
    ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  }
  faults_.setRule({{"call", "C_Sign"}, {"delayMs", 1500}, {"times", 1}});
  const RawSocket signing(harness.socket());
  const auto start = Clock::now();
  signing.sendRequest(request(1, "signBlock",
                              {{"key", key},
                               {"uri", "/profile"},
                               {"kind", "public"},
                               {"seq", 1},
                               {"payload", "YmxvY2s="}}));
  std::this_thread::sleep_for(milliseconds(100));
  const RawSocket other(harness.socket());
  other.sendRequest(request(2, "hello"));
  const auto hello = other.receive(std::chrono::seconds(10));
  const auto helloTook = Clock::now() - start;
  const auto signature = signing.receive(std::chrono::seconds(10));
  ASSERT_TRUE(hello && signature);
  EXPECT_TRUE(hello->contains("result"));
  EXPECT_TRUE(signature->contains("result")) << signature->dump();
  EXPECT_LT(helloTook, milliseconds(1000))
      << "hello waited for the slow signature: " << toMs(helloTook) << " ms";
}

TEST_F(FaultyAgent, AModuleThatAbortsLeavesTheAgentServing) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  auto agent = harness.connect();
  ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  faults_.setRule({{"call", "C_Sign"}, {"abort", true}, {"times", 1}});
  auto subscriber = harness.connect();  // a client connected while the new helper starts
  subscriber.call("subscribe");
  const json aborted = signBlock(agent, key);
  EXPECT_EQ(codeOf(aborted), "TOKEN_UNAVAILABLE") << aborted.dump();
  expectServing();
  // Rule counters live in the process that loaded the module: the new helper
  // would read the rule afresh and abort again. The crash was a one-off.
  faults_.clearRules();
  const json next = signBlock(agent, key);  // a new helper process
  EXPECT_EQ(codeOf(next), "OK") << next.dump() << harness.agentLog();
  // The new helper holds its socketpair end (3) and event pipe (4), nothing
  // of the agent's: no client connection reaches vendor code.
  const auto helpers = childrenOf(harness.pid());
  ASSERT_EQ(helpers.size(), 1U);
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/" + std::to_string(helpers[0]) + "/fd")) {
    const int number = std::stoi(fd.path().filename().string());
    EXPECT_LE(number, 4) << "the helper inherited "
                         << std::filesystem::read_symlink(fd.path()).string();
  }
}

TEST_F(FaultyAgent, AModuleThatHangsLeavesTheAgentServing) {
  AgentHarness& harness = start();
  const std::string key = harness.keyUri("ed25519");
  {
    auto agent = harness.connect();
    ASSERT_EQ(codeOf(signBlock(agent, key)), "OK");
  }
  faults_.setRule({{"call", "C_Sign"}, {"hang", true}, {"times", 1}});
  const RawSocket signing(harness.socket());
  signing.sendRequest(request(1, "signBlock",
                              {{"key", key},
                               {"uri", "/profile"},
                               {"kind", "public"},
                               {"seq", 1},
                               {"payload", "YmxvY2s="}}));
  std::this_thread::sleep_for(milliseconds(100));
  const RawSocket other(harness.socket());
  other.sendRequest(request(2, "hello"));
  const auto hello = other.receive(std::chrono::seconds(5));
  ASSERT_TRUE(hello);
  EXPECT_TRUE(hello->contains("result")) << "answered while the module hangs";
  const auto signature = signing.receive(std::chrono::seconds(60));
  ASSERT_TRUE(signature);
  EXPECT_EQ((*signature)["error"]["data"].value("error", ""), "TOKEN_UNAVAILABLE")
      << signature->dump();
}

}  // namespace
}  // namespace p2pcp::testing
