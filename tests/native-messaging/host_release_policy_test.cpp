// SPDX-License-Identifier: Apache-2.0
// The native host inherits the browser's environment: in a build without test
// hooks (a release), P2PCP_POLICY there must not widen the extensions it
// serves. The host here is p2pcp-native-host-without-test-hooks, the same
// sources linked without the hooks; the policy that names a foreign
// extension is the harness's P2PCP_POLICY file.
#include <gtest/gtest.h>

#include <fstream>

#include "agent_harness.hpp"
#include "native_host_process.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;

constexpr const char* kForeignId = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

std::string codeOf(const std::optional<json>& reply) {
  if (!reply) {
    return "NO_REPLY";
  }
  if (reply->contains("error")) {
    return (*reply)["error"]["data"].value("error", "UNKNOWN");
  }
  return "OK";
}

class HostReleasePolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    AgentSetup setup;
    setup.policy = json{{"allowedExtensions", {kForeignId}}};
    harness_ = std::make_unique<AgentHarness>(setup);
  }

  std::string helloThrough(const std::string& program) {
    NativeHostProcess host({"chrome-extension://" + std::string(kForeignId) + "/"},
                           harness_->environment(), program);
    host.send({{"id", 1}, {"method", "hello"}, {"origin", "https://app.example"}});
    return codeOf(host.receive());
  }

  std::unique_ptr<AgentHarness> harness_;
};

TEST_F(HostReleasePolicy, WithoutTestHooksTheBrowsersEnvironmentCannotAllowAnExtension) {
  if (std::ifstream("/etc/p2pcp-agent/policy.json")) {
    GTEST_SKIP() << "this machine has a system policy, which decides instead";
  }
  EXPECT_EQ(helloThrough(P2PCP_NATIVE_HOST_WITHOUT_TEST_HOOKS), "EXTENSION_NOT_ALLOWED");
}

// The test build's host follows P2PCP_POLICY, so the test above is not
// refusing for another reason.
TEST_F(HostReleasePolicy, ATestBuildHostFollowsP2pcpPolicy) {
  EXPECT_EQ(helloThrough(P2PCP_NATIVE_HOST), "OK");
}

}  // namespace
}  // namespace p2pcp::testing
