// SPDX-License-Identifier: Apache-2.0
// Test hooks (test_hooks.hpp) as the tests see them, validatePolicyFile, the
// fail-closed PolicyHolder and the idle timer. Built twice: into unit_tests
// (with hooks) and into unit_tests_without_test_hooks, linked as a release is,
// where P2PCP_POLICY and P2PCP_TEST_* must change nothing.
#include "p2pcp/agent/test_hooks.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "p2pcp/agent/config.hpp"

namespace p2pcp::agent {
namespace {

namespace fs = std::filesystem;

#ifdef P2PCP_EXPECT_TEST_HOOKS
constexpr bool kExpectHooks = true;
#else
constexpr bool kExpectHooks = false;
#endif

class TestHooks : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("P2PCP_POLICY", "/tmp/p2pcp-person-policy.json", 1);
    ::setenv("P2PCP_TEST_IDLE_TIMEOUT_MS", "5", 1);
  }
  void TearDown() override {
    ::unsetenv("P2PCP_POLICY");
    ::unsetenv("P2PCP_TEST_IDLE_TIMEOUT_MS");
  }
};

TEST_F(TestHooks, OnlyATestBuildLetsTheEnvironmentNameThePolicy) {
  EXPECT_EQ(testHooksEnabled(), kExpectHooks);
  const Paths paths = Paths::fromEnvironment();
  if (kExpectHooks) {
    EXPECT_EQ(paths.policyFile, "/tmp/p2pcp-person-policy.json");
    EXPECT_EQ(testHookVariable("P2PCP_TEST_IDLE_TIMEOUT_MS"), "5");
  } else {
    EXPECT_EQ(paths.policyFile, "/etc/p2pcp-agent/policy.json");
    EXPECT_EQ(testHookVariable("P2PCP_TEST_IDLE_TIMEOUT_MS"), std::nullopt);
  }
}

TEST(ValidatePolicyFile, NamesTheFileTheFieldAndTheValue) {
  std::string pattern = (fs::temp_directory_path() / "p2pcp-validate.XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const fs::path file = fs::path(pattern) / "policy.json";
  std::ofstream(file) << R"({"rawSigning": false, "pinCacheMaxSeconds": 60})";
  EXPECT_EQ(validatePolicyFile(file), std::nullopt);
  EXPECT_EQ(Policy::fieldsIn(file), (std::vector<std::string>{"pinCacheMaxSeconds", "rawSigning"}));

  std::ofstream(file, std::ios::trunc) << R"({"keyGeneration": "off"})";
  EXPECT_EQ(
      validatePolicyFile(file),
      file.string() +
          R"(: field "keyGeneration" has the wrong type (expected true or false, found "off"))");
  std::ofstream(file, std::ios::trunc) << R"({"rawsigning": true})";
  const auto unknown = validatePolicyFile(file).value_or("");
  EXPECT_NE(unknown.find("rawsigning"), std::string::npos) << unknown;
  EXPECT_EQ(validatePolicyFile(fs::path(pattern) / "absent.json"),
            (fs::path(pattern) / "absent.json").string() + ": does not exist");
  fs::remove_all(pattern);
}

}  // namespace
}  // namespace p2pcp::agent
