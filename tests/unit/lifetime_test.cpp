// SPDX-License-Identifier: Apache-2.0
// The idle timer and the policy holder's fail-closed state, without a process.
#include "p2pcp/agent/lifetime.hpp"

#include <gtest/gtest.h>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/policy_holder.hpp"

namespace p2pcp::agent {
namespace {

using namespace std::chrono_literals;

TEST(IdleTimer, ExpiresOnlyAfterAnUnbrokenIdleStretch) {
  IdleTimer timer(10s);
  const auto start = IdleTimer::Clock::time_point{} + 1h;
  EXPECT_FALSE(timer.expired(true, start));
  EXPECT_FALSE(timer.expired(true, start + 9s));
  EXPECT_FALSE(timer.expired(false, start + 9500ms));  // a client came: start again
  EXPECT_FALSE(timer.expired(true, start + 10s));
  EXPECT_FALSE(timer.expired(true, start + 19s));
  EXPECT_TRUE(timer.expired(true, start + 20s));
}

TEST(ExecutableWatch, ARunningTestProgramIsNotReplaced) {
  const ExecutableWatch self;
  EXPECT_FALSE(self.path().empty());
  EXPECT_FALSE(self.replaced());
}

TEST(PolicyHolder, AMalformedPolicyRefusesWithTheProblemUntilReplaced) {
  PolicyHolder holder(Policy{}, "/etc/p2pcp-agent/policy.json");
  EXPECT_NE(holder.current(), nullptr);
  holder.markMalformed(R"(policy.json: field "rawSigning" has the wrong type)");
  EXPECT_EQ(holder.tryCurrent(), nullptr);
  try {
    (void)holder.current();
    ADD_FAILURE() << "a malformed policy was handed out";
  } catch (const AgentError& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotAllowedByPolicy);
    EXPECT_NE(std::string(e.what()).find("rawSigning"), std::string::npos);
    EXPECT_EQ(e.data()["policyError"], R"(policy.json: field "rawSigning" has the wrong type)");
  }
  Policy strict;
  strict.keyGeneration = false;
  holder.replace(strict);
  EXPECT_EQ(holder.problem(), std::nullopt);
  EXPECT_FALSE(holder.current()->keyGeneration);
}

}  // namespace
}  // namespace p2pcp::agent
