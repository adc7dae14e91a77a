// SPDX-License-Identifier: Apache-2.0
// The administrator's policy reaches a running agent (issue 9, item 4): a file
// renamed over the old one (as configuration management does) or SIGHUP
// reloads it; a tightened policy applies at once (consents revoked, modules
// dropped, logins expired, methods refused); a malformed one fails closed and
// says why. Also `--check-policy` and the CLI naming why the agent did not start.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "agent_harness.hpp"
#include "policy_test_support.hpp"

namespace p2pcp::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

#define SKIP_WITHOUT_SOFTHSM()                              \
  if (auto missing = AgentHarness::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                               \
  }

constexpr const char* kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";

TEST(PolicyReload, APolicyRenamedIntoPlaceTurnsKeyGenerationOffWithoutARestart) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  const pid_t pid = harness.pid();
  ASSERT_NO_THROW((void)agent.call("generateKey", {{"type", "ec-p256"}, {"label", "before"}}));

  rollOut(harness.home() / "policy.json", R"({"keyGeneration": false})");
  EXPECT_TRUE(eventually([&] {
    return harness.connect().call("status")["policy"].value("keyGeneration", true) == false;
  })) << harness.agentLog();
  EXPECT_EQ(callError(harness, "generateKey", {{"type", "ec-p256"}, {"label", "after"}}),
            "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(harness.pid(), pid);
  EXPECT_NE(harness.agentLog().find("policy reloaded from"), std::string::npos);
}

// inotify cannot see through a symbolic link into another directory, nor a watched
// directory removed and made again; the once-a-second look at the file does.
TEST(PolicyReload, ATargetChangingBehindASymbolicLinkIsSeenWithoutASignal) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  const fs::path real = harness.home() / "managed" / "policy.json";
  fs::create_directories(real.parent_path());
  std::ofstream(real) << "{}";
  AgentSetup setup;
  setup.policyLink = real;
  harness.restart(setup);
  ASSERT_TRUE(harness.connect().call("status")["policy"].value("keyGeneration", false));

  std::ofstream(real, std::ios::trunc) << R"({"keyGeneration": false})";
  EXPECT_TRUE(eventually([&] {
    return !harness.connect().call("status")["policy"].value("keyGeneration", true);
  })) << harness.agentLog();
  EXPECT_EQ(callError(harness, "generateKey", {{"type", "ec-p256"}, {"label", "after"}}),
            "NOT_ALLOWED_BY_POLICY");
}

// SIGHUP reloads the policy, as sshd does; it no longer locks (`p2pcp lock`
// and SIGUSR1 do). The policy here is a symbolic link to a file in another
// directory, whose changes the agent's directory watch cannot see: only the
// signal brings them in.
TEST(PolicyReload, SighupReloadsThePolicyAndKeepsTheLogin) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  const fs::path real = harness.home() / "managed" / "policy.json";
  fs::create_directories(real.parent_path());
  std::ofstream(real) << "{}";
  AgentSetup setup;
  setup.policyLink = real;
  harness.restart(setup);
  auto agent = harness.connect();
  (void)agent.call("login");

  std::ofstream(real, std::ios::trunc) << R"({"rawSigning": true})";
  ASSERT_EQ(::kill(harness.pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] {
    return harness.connect().call("status")["policy"].value("rawSigning", false);
  })) << harness.agentLog();
  EXPECT_TRUE(agent.call("listTokens")[0].value("loggedIn", false)) << "SIGHUP locked the token";
  EXPECT_NE(harness.agentLog().find("(SIGHUP)"), std::string::npos) << harness.agentLog();

  ASSERT_EQ(::kill(harness.pid(), SIGUSR1), 0);
  EXPECT_TRUE(eventually([&] { return !agent.call("listTokens")[0].value("loggedIn", true); }))
      << "SIGUSR1 locks";
}

TEST(PolicyReload, ABlockedOriginLosesItsConsentForGood) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  (void)agent.call("grantConsent", {{"origin", "https://a.example"}, {"access", "full"}});
  (void)agent.call("grantConsent", {{"origin", "https://b.example"}, {"access", "site"}});
  const std::string key = harness.keyFingerprint("p256");
  const json page = {{"origin", "https://a.example"}};
  ASSERT_NO_THROW((void)agent.call("getPublicKey", {{"key", key}}, page));

  rollOut(harness.home() / "policy.json", R"({"origins": {"block": ["https://a.example"]}})");
  const auto consented = [&](const std::string& origin) {
    for (const auto& consent : harness.connect().call("listConsents")) {
      if (consent.value("origin", "") == origin) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(eventually([&] { return !consented("https://a.example"); })) << harness.agentLog();
  EXPECT_TRUE(consented("https://b.example"))
      << "an origin the policy still allows keeps its consent";
  EXPECT_EQ(callError(harness, "getPublicKey", {{"key", key}}, page), "NOT_ALLOWED_BY_POLICY");

  // Lifting the block does not bring the consent back: the person is asked again.
  rollOut(harness.home() / "policy.json", "{}");
  EXPECT_TRUE(eventually([&] {
    return harness.agentLog().find("policy reloaded") !=
           harness.agentLog().rfind("policy reloaded");
  }));
  EXPECT_FALSE(consented("https://a.example"));
}

TEST(PolicyReload, AShorterPinCacheEndsALoginAtOnce) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  (void)agent.call("login");
  ASSERT_TRUE(agent.call("listTokens")[0].value("loggedIn", false));
  rollOut(harness.home() / "policy.json", R"({"pinCacheSeconds": 1})");
  EXPECT_TRUE(eventually([&] { return !agent.call("listTokens")[0].value("loggedIn", true); }))
      << harness.agentLog();
}

TEST(PolicyReload, AMalformedPolicyFailsClosedNamesTheFieldAndRecovers) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  (void)agent.call("login");
  (void)agent.call("grantConsent", {{"origin", "https://a.example"}, {"access", "site"}});
  const pid_t pid = harness.pid();

  rollOut(harness.home() / "policy.json", R"({"rawSigning": "yes"})");
  EXPECT_TRUE(eventually([&] {
    return harness.connect().call("status")["policy"].contains("error");
  })) << harness.agentLog();
  const std::string problem = harness.connect().call("status")["policy"].value("error", "");
  EXPECT_NE(problem.find(R"("rawSigning")"), std::string::npos) << problem;
  EXPECT_NE(problem.find(R"("yes")"), std::string::npos) << problem;
  try {
    (void)agent.call("listKeys");
    ADD_FAILURE() << "a request was served under a malformed policy";
  } catch (const client::AgentCallError& e) {
    EXPECT_EQ(e.code(), "NOT_ALLOWED_BY_POLICY");
    EXPECT_NE(e.error()["data"].value("policyError", "").find("rawSigning"), std::string::npos);
  }
  // The person can still see and revoke consents; pages get nothing.
  EXPECT_EQ(callError(harness, "listConsents", json::object()), "");
  EXPECT_EQ(callError(harness, "hello", json::object(), {{"origin", "https://a.example"}}),
            "NOT_ALLOWED_BY_POLICY");
  // `p2pcp status` says what is wrong, not only where to look.
  const auto status = harness.run({P2PCP_CLI_PROGRAM, "status"});
  EXPECT_EQ(status.exitCode, 0) << status.output;
  EXPECT_NE(status.output.find("MALFORMED"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find(R"(field "rawSigning" has the wrong type)"), std::string::npos)
      << status.output;
  EXPECT_NE(harness.agentLog().find("refusing policy-governed requests"), std::string::npos);

  rollOut(harness.home() / "policy.json", "{}");
  EXPECT_TRUE(eventually([&] {
    return !harness.connect().call("status")["policy"].contains("error");
  })) << harness.agentLog();
  EXPECT_FALSE(agent.call("listTokens")[0].value("loggedIn", true))
      << "the login was kept through the malformed policy";
  EXPECT_FALSE(agent.call("listKeys").empty());
  EXPECT_EQ(harness.pid(), pid);
}

TEST(PolicyReload, AModuleNoLongerAllowedIsDroppedWithItsHelper) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.policy = json{{"allowedModules", {kSoftHsm}}};
  AgentHarness harness(setup);
  auto agent = harness.connect();
  ASSERT_EQ(agent.call("listTokens").size(), 1U);
  ASSERT_FALSE(childrenOf(harness.pid()).empty()) << "no helper runs for SoftHSM2";

  rollOut(harness.home() / "policy.json",
          R"({"allowedModules": ["/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"]})");
  EXPECT_TRUE(eventually([&] { return harness.connect().call("status")["modules"].empty(); }))
      << harness.agentLog();
  EXPECT_TRUE(agent.call("listTokens").empty());
  EXPECT_TRUE(eventually([&] { return childrenOf(harness.pid()).empty(); }))
      << "the dropped module's helper still runs";
  EXPECT_EQ(callError(harness, "listKeys", json::object()), "");  // no keys, but served
  EXPECT_TRUE(harness.connect().call("listKeys").empty());
}

// allowedModules filters every module source, the person's environment too.
TEST(PolicyReload, AModuleFromTheEnvironmentMustBeAllowed) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  AgentSetup setup;
  setup.policy = json{{"allowedModules", {"/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"}}};
  setup.extraEnv["P2PCP_PKCS11_MODULE"] = kSoftHsm;
  EXPECT_THROW(harness.restart(setup), std::runtime_error);
  EXPECT_NE(harness.agentLog().find("policy does not allow the PKCS#11 module"), std::string::npos)
      << harness.agentLog();
}

TEST(CheckPolicy, ValidatesAFileBeforeRolloutLikeSshdT) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  const fs::path file = harness.home() / "candidate.json";
  std::ofstream(file)
      << R"({"keyGeneration": false, "origins": {"allow": ["https://corp.example"]}})";
  auto result = harness.run({P2PCP_AGENT_PROGRAM, "--check-policy", file.string()});
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(result.output, "") << "a valid file is checked silently";
  result = harness.run({P2PCP_AGENT_PROGRAM, "-v", "--check-policy", file.string()});
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_NE(result.output.find("sets keyGeneration, origins"), std::string::npos) << result.output;

  std::ofstream(file, std::ios::trunc) << R"({"pinCacheSeconds": "ten"})";
  result = harness.run({P2PCP_AGENT_PROGRAM, "--check-policy", file.string()});
  EXPECT_EQ(result.exitCode, 2);
  EXPECT_NE(result.output.find(R"(field "pinCacheSeconds" has the wrong type)"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find(R"("ten")"), std::string::npos) << result.output;

  std::ofstream(file, std::ios::trunc) << R"({"origins": {"block": ["https://Evil.example"]}})";
  result = harness.run({P2PCP_AGENT_PROGRAM, "--check-policy", file.string()});
  EXPECT_EQ(result.exitCode, 2);
  EXPECT_NE(result.output.find(R"(origins.block[0] "https://Evil.example")"), std::string::npos)
      << result.output;

  result = harness.run({P2PCP_AGENT_PROGRAM, "--check-policy", (file.string() + ".missing")});
  EXPECT_EQ(result.exitCode, 2);
  EXPECT_NE(result.output.find("does not exist"), std::string::npos) << result.output;
}

TEST(CheckPolicy, TheCliSaysWhyTheAgentDidNotStart) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  harness.stop();
  std::ofstream(harness.home() / "policy.json", std::ios::trunc) << R"({"keyGeneration": 0})";
  const auto result = harness.run({P2PCP_CLI_PROGRAM, "status"}, {{"P2PCP_NO_AUTOSTART", ""}});
  EXPECT_EQ(result.exitCode, 3) << result.output;
  EXPECT_NE(result.output.find(R"(field "keyGeneration" has the wrong type)"), std::string::npos)
      << result.output;
}

TEST(PolicyShow, ShowsEachValueAndWhereItComesFrom) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.policy = json{{"keyGeneration", false}, {"pinCacheSeconds", 60}};
  AgentHarness harness(setup);
  const auto result = harness.run({P2PCP_CLI_PROGRAM, "policy", "--json"});
  ASSERT_EQ(result.exitCode, 0) << result.output;
  json shown = json::parse(result.output);  // not const: a missing member must not abort
  EXPECT_EQ(shown["file"], (harness.home() / "policy.json").string());
  EXPECT_EQ(shown["values"]["keyGeneration"], json({{"value", false}, {"source", "file"}}));
  EXPECT_EQ(shown["values"]["pinCacheSeconds"], json({{"value", 60}, {"source", "file"}}));
  EXPECT_EQ(shown["values"]["rawSigning"], json({{"value", false}, {"source", "default"}}));
  EXPECT_EQ(shown["values"]["pinCacheMaxSeconds"]["source"], "default");

  const auto text = harness.run({P2PCP_CLI_PROGRAM, "policy"});
  EXPECT_NE(text.output.find("keyGeneration = false\n    from " +
                             (harness.home() / "policy.json").string()),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("rawSigning = false\n    from built-in default"), std::string::npos)
      << text.output;

  std::ofstream(harness.home() / "policy.json", std::ios::trunc) << R"({"rawSigning": 1})";
  const auto broken = harness.run({P2PCP_CLI_PROGRAM, "policy"});
  EXPECT_EQ(broken.exitCode, 1);
  EXPECT_NE(broken.output.find(R"(field "rawSigning" has the wrong type)"), std::string::npos)
      << broken.output;
}

}  // namespace
}  // namespace p2pcp::testing
