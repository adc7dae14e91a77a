// SPDX-License-Identifier: Apache-2.0
// The administrator's policy fails closed at start-up: an entry that would
// never match, or a policy path that exists but cannot be read, stops the agent
// with a log line naming the entry or the path (exit code 2), instead of
// running as if the rule or the whole policy were not there.
#include <gtest/gtest.h>

#include <string>

#include "agent_harness.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;

#define SKIP_WITHOUT_SOFTHSM()                              \
  if (auto missing = AgentHarness::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                               \
  }

bool logHas(const AgentHarness& harness, const std::string& text) {
  return harness.agentLog().find(text) != std::string::npos;
}

TEST(AgentPolicyFile, ANonCanonicalOriginStopsTheAgentNamingTheEntry) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  AgentSetup setup;
  setup.policy = json{{"origins", {{"allow", {"https://corp.example", "https://App.example/"}}}}};
  EXPECT_THROW(harness.restart(setup), std::runtime_error);
  const std::string policyFile = (harness.home() / "policy.json").string();
  EXPECT_TRUE(logHas(
      harness,
      policyFile +
          R"(: origins.allow[1] "https://App.example/" is not a canonical origin; write "https://app.example")"))
      << harness.agentLog();
  EXPECT_EQ(harness.runAgentOnce({"--socket", harness.socket().string()}), 2);

  setup.policy = json{{"origins", {{"block", {"*.corp.example"}}}}};
  EXPECT_THROW(harness.restart(setup), std::runtime_error);
  EXPECT_TRUE(logHas(harness, R"(origins.block[0] "*.corp.example" is not a valid origin)"))
      << harness.agentLog();
}

TEST(AgentPolicyFile, ADanglingSymlinkIsNotMistakenForNoPolicy) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  AgentSetup setup;
  setup.policyLink = harness.home() / "moved-away.json";
  EXPECT_THROW(harness.restart(setup), std::runtime_error);
  const std::string policyFile = (harness.home() / "policy.json").string();
  EXPECT_TRUE(logHas(harness, policyFile + ": is a symbolic link to " + setup.policyLink->string() +
                                  ", which does not exist"))
      << harness.agentLog();
  EXPECT_EQ(harness.runAgentOnce({"--socket", harness.socket().string()}), 2);
}

// The wildcard form reaches the running agent: a subdomain is let in without a
// dialog, a look-alike domain is refused.
TEST(AgentPolicyFile, AWildcardAllowsSubdomainsOnly) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.policy = json{{"origins", {{"allow", {"https://*.corp.example"}}, {"onlyAllowed", true}}}};
  AgentHarness harness(setup);
  auto agent = harness.connect();
  const json params = {
      {"key", harness.keyFingerprint("p256")}, {"kind", "public"}, {"uri", "/profile"}};
  EXPECT_NO_THROW(
      (void)agent.call("deriveStorageKey", params, {{"origin", "https://a.corp.example"}}));
  try {
    (void)agent.call("deriveStorageKey", params, {{"origin", "https://evilcorp.example"}});
    ADD_FAILURE() << "a look-alike domain was let in";
  } catch (const client::AgentCallError& e) {
    EXPECT_EQ(e.error()["data"]["error"], "NOT_ALLOWED_BY_POLICY");
  }
  EXPECT_EQ(harness.countPinentry("CONFIRM"), 0) << "policy decides without asking";
}

}  // namespace
}  // namespace p2pcp::testing
