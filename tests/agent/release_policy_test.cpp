// SPDX-License-Identifier: Apache-2.0
// A build without test hooks (a release, the Debian package) reads the
// administrator's policy only from /etc/p2pcp-agent/policy.json: P2PCP_POLICY
// in the person's environment changes nothing (issue 9: `P2PCP_POLICY=/nonexistent
// p2pcp keygen` got around `keyGeneration: false`). The agent here is
// p2pcp-agent-without-test-hooks, the same sources linked without the hooks.
// The system policy is written into a private mount namespace (an overlay on
// /etc), so the machine's /etc is never touched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "agent_harness.hpp"
#include "policy_test_support.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;

// Runs the agent in a mount namespace of its own, with an overlay on /etc
// that holds $P2PCP_NS_POLICY as /etc/p2pcp-agent/policy.json.
const char* const kPrivateEtc = R"(set -e
mount -t tmpfs tmpfs "$P2PCP_NS_DIR"
mkdir "$P2PCP_NS_DIR/upper" "$P2PCP_NS_DIR/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$P2PCP_NS_DIR/upper,workdir=$P2PCP_NS_DIR/work" /etc
mkdir -p /etc/p2pcp-agent
printf '%s' "$P2PCP_NS_POLICY" > /etc/p2pcp-agent/policy.json
exec "$@")";

class ReleasePolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    if (::geteuid() != 0 ||
        std::system("unshare -m --propagation private true >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "needs root and mount namespaces for a private /etc";
    }
    harness_ = std::make_unique<AgentHarness>();
  }

  // The agent under a private /etc whose system policy turns key generation
  // off, while the person's P2PCP_POLICY names a file that allows it.
  void startAgent(const std::string& program) {
    const auto nsDir = harness_->home() / "etc-overlay";
    std::filesystem::create_directories(nsDir);
    AgentSetup setup;
    setup.agentProgram = program;
    setup.policy = json{{"keyGeneration", true}};
    setup.launcher = {"/usr/bin/unshare", "-m", "--propagation", "private",
                      "/bin/sh",          "-c", kPrivateEtc,     "sh"};
    setup.extraEnv = {{"P2PCP_NS_DIR", nsDir.string()},
                      {"P2PCP_NS_POLICY", R"({"keyGeneration": false})"}};
    harness_->restart(setup);
  }

  std::unique_ptr<AgentHarness> harness_;
};

TEST_F(ReleasePolicy, WithoutTestHooksP2pcpPolicyCannotGetAroundTheSystemPolicy) {
  startAgent(P2PCP_AGENT_WITHOUT_TEST_HOOKS);
  const json status = harness_->connect().call("status");
  const json policy = status.value("policy", json::object());
  EXPECT_EQ(policy.value("file", ""), "/etc/p2pcp-agent/policy.json") << status.dump();
  EXPECT_EQ(policy.value("keyGeneration", true), false) << status.dump();
  // The issue's own command line.
  const auto keygen =
      harness_->run({P2PCP_CLI_PROGRAM, "keygen", "--type", "ec-p256", "--label", "mine"},
                    {{"P2PCP_POLICY", "/nonexistent"}});
  EXPECT_EQ(keygen.exitCode, 1) << keygen.output;
  EXPECT_NE(keygen.output.find("NOT_ALLOWED_BY_POLICY"), std::string::npos) << keygen.output;
}

// The same set-up with the test build's agent shows what the hooks do, so the
// test above is not passing for another reason.
TEST_F(ReleasePolicy, ATestBuildFollowsP2pcpPolicy) {
  startAgent(P2PCP_AGENT_PROGRAM);
  const json status = harness_->connect().call("status");
  const json policy = status.value("policy", json::object());
  EXPECT_EQ(policy.value("file", ""), (harness_->home() / "policy.json").string()) << status.dump();
  EXPECT_EQ(policy.value("keyGeneration", false), true) << status.dump();
}

}  // namespace
}  // namespace p2pcp::testing
