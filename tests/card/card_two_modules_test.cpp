// SPDX-License-Identifier: Apache-2.0
// Two modules at once, as p11-kit's registry offers them: OpenSC with the
// emulated card, and a SoftHSM2 token behind the fault module. Each module runs
// in a helper process of its own, so a module that hangs holds up requests for
// its own token only: the card keeps signing meanwhile, the hung request ends
// as TOKEN_UNAVAILABLE within the agent's bound, and the module is started
// again on the next request (issue 8, item 2).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "card_checks.hpp"
#include "card_stack.hpp"
#include "child_process.hpp"
#include "fault_control.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

json signBlock(const AgentHarness& harness, const std::string& key) {
  auto agent = harness.connect();
  return tryCall(
      agent, "signBlock",
      {{"key", key}, {"uri", "/profile"}, {"kind", "public"}, {"seq", 1}, {"payload", "YmxvY2s="}});
}

class TwoModules : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = CardStack::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    CardSetup card;
    card.secondKey = false;
    stack_ = std::make_unique<CardStack>(card);
    AgentSetup setup = stack_->agentSetup();
    setup.registeredModules = true;
    setup.importFixtures = true;  // the SoftHSM2 token behind the fault module
    for (const auto& [name, value] : faults_.environment()) {
      setup.extraEnv[name] = value;
    }
    setup.extraEnv["P2PCP_TEST_TOKEN_TIMEOUT_MS"] = "6000";  // the hang's bound
    registerModules(setup);
    harness_ = std::make_unique<AgentHarness>(setup);
  }

  void TearDown() override {
    faults_.clearRules();
    harness_.reset();  // the agent first: it is a client of the stack's pcscd
    stack_.reset();
  }

  // The registry inside the stack's private mount namespace: OpenSC, and the
  // fault module in place of SoftHSM2's own entry.
  static void registerModules(const AgentSetup& setup) {
    const std::filesystem::path dir =
        std::filesystem::path(setup.extraEnv.at("HOME")) / "p11-kit-modules";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "opensc-pkcs11.module") << "module: opensc-pkcs11.so\n";
    std::ofstream(dir / "faulty-softhsm2.module")
        << "module: " << FaultControl::modulePath() << "\n";
    // setup.launcher: setpriv --pdeathsig KILL nsenter --mount=NS --
    std::vector<std::string> mount(setup.launcher.begin() + 3, setup.launcher.end());
    mount.insert(mount.end(),
                 {"/usr/bin/mount", "--bind", dir.string(), "/usr/share/p11-kit/modules"});
    ChildProcess mounting(mount, {});
    ASSERT_EQ(mounting.wait(seconds(10)), 0);
  }

  // The URI of the one key on the card, and of the SoftHSM2 token's P-256 key.
  void findKeys() {
    auto agent = harness_->connect();
    for (const auto& key : agent.call("listKeys")) {
      const std::string uri = key["uri"];
      if (uri.find("token=p2pcp-test") == std::string::npos) {
        cardKey_ = uri;
      } else if (key["type"] == "ec-p256") {
        softKey_ = uri;
      }
    }
    ASSERT_FALSE(cardKey_.empty()) << harness_->agentLog();
    ASSERT_FALSE(softKey_.empty()) << harness_->agentLog();
  }

  FaultControl faults_;
  std::unique_ptr<CardStack> stack_;
  std::unique_ptr<AgentHarness> harness_;
  std::string cardKey_;
  std::string softKey_;
};

TEST_F(TwoModules, AHangingModuleHoldsUpItsOwnTokenOnly) {
  findKeys();
  ASSERT_EQ(codeOf(signBlock(*harness_, cardKey_)), "OK");
  ASSERT_EQ(codeOf(signBlock(*harness_, softKey_)), "OK");

  faults_.setRule({{"call", "C_Sign"}, {"hang", true}});
  const auto hangStarted = Clock::now();
  auto hung = std::async(std::launch::async, [&] { return signBlock(*harness_, softKey_); });
  std::this_thread::sleep_for(milliseconds(300));  // the hung signature is under way

  const auto cardStarted = Clock::now();
  const json card = signBlock(*harness_, cardKey_);
  const auto cardTook = Clock::now() - cardStarted;
  EXPECT_EQ(codeOf(card), "OK") << card.dump();
  EXPECT_LT(cardTook, milliseconds(4000))
      << "the card waited for the other module: "
      << std::chrono::duration_cast<milliseconds>(cardTook).count() << " ms";
  auto agent = harness_->connect();
  const auto listStarted = Clock::now();
  const json tokens = agent.call("listTokens");
  EXPECT_LT(Clock::now() - listStarted, milliseconds(3000)) << "listTokens waited for the hang";
  ASSERT_EQ(tokens.size(), 2U) << "a scan does not wait for the busy module";
  EXPECT_EQ(tokens[0].value("busy", false) + tokens[1].value("busy", false), 1) << tokens.dump(1);

  const json outcome = hung.get();
  const auto hangTook = Clock::now() - hangStarted;
  EXPECT_EQ(codeOf(outcome), "TOKEN_UNAVAILABLE") << outcome.dump();
  EXPECT_LT(hangTook, seconds(15)) << "the agent's bound (6 s here) ended the hang";
  std::cout << "[ figures  ] card signature during the hang: "
            << std::chrono::duration_cast<milliseconds>(cardTook).count()
            << " ms; the hung request ended after "
            << std::chrono::duration_cast<milliseconds>(hangTook).count() << " ms\n";

  // A new helper serves the module on the next request (a new process: the
  // PIN is asked again).
  faults_.clearRules();
  const json again = signBlock(*harness_, softKey_);
  EXPECT_EQ(codeOf(again), "OK") << again.dump() << harness_->agentLog();
  EXPECT_EQ(codeOf(signBlock(*harness_, cardKey_)), "OK");
}

}  // namespace
}  // namespace p2pcp::testing
