// SPDX-License-Identifier: Apache-2.0
// The agent ends by itself (issue 9, item 4): one the CLI started exits after
// a while with no client, no request and no login, and every agent exits once
// its program file was replaced (an upgrade), so the next CLI call (or socket
// activation) starts the installed program instead of the deleted one.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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

// The pid of the agent that answers `p2pcp status --json` now (started by the
// CLI if none runs); -1 when the call failed.
pid_t agentPidByCli(const AgentHarness& harness, const std::map<std::string, std::string>& env) {
  const auto result = harness.run({P2PCP_CLI_PROGRAM, "status", "--json"}, env);
  if (result.exitCode != 0) {
    ADD_FAILURE() << result.output;
    return -1;
  }
  return json::parse(result.output).value("pid", -1);
}

// The log of the agents the CLI starts (beside their socket).
std::string cliAgentLog(const AgentHarness& harness) {
  std::ifstream in(harness.socket().parent_path() / "agent.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Ends an agent the CLI started that is still there when a check failed.
void endIfRunning(pid_t pid) {
  if (pid > 0 && !processEnded(pid)) {
    ::kill(pid, SIGTERM);
  }
}

TEST(AgentLifetime, AnAgentTheCliStartedExitsWhenIdleButNotWhileLoggedIn) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  harness.stop();  // from here on, the CLI starts the agents
  const std::map<std::string, std::string> env{{"P2PCP_NO_AUTOSTART", ""},
                                               {"P2PCP_TEST_EXIT_WHEN_IDLE_MS", "1500"}};
  const pid_t first = agentPidByCli(harness, env);
  ASSERT_GT(first, 0);
  EXPECT_TRUE(eventually([&] { return processEnded(first); }, 10s))
      << "the idle agent still runs: " << cliAgentLog(harness);
  EXPECT_FALSE(fs::exists(harness.socket())) << "the idle agent left its socket behind";
  EXPECT_NE(cliAgentLog(harness).find("stopping: idle for 1500 ms"), std::string::npos)
      << cliAgentLog(harness);

  // The next call starts a new one, which keeps a login for the person.
  const auto login = harness.run({P2PCP_CLI_PROGRAM, "login"}, env);
  ASSERT_EQ(login.exitCode, 0) << login.output;
  const pid_t second = agentPidByCli(harness, env);
  ASSERT_GT(second, 0);
  EXPECT_NE(second, first);
  std::this_thread::sleep_for(4s);
  EXPECT_FALSE(processEnded(second)) << "the agent exited and dropped the person's login";
  // Locked, it has nothing left to keep.
  EXPECT_EQ(harness.run({P2PCP_CLI_PROGRAM, "lock"}, env).exitCode, 0);
  EXPECT_TRUE(eventually([&] { return processEnded(second); }, 10s)) << cliAgentLog(harness);
  endIfRunning(second);
}

TEST(AgentLifetime, AnAgentStartedWithoutTheFlagStays) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;  // started as systemd or a person would: no --exit-when-idle
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(harness.waitForExit(0ms).has_value()) << harness.agentLog();
}

TEST(AgentLifetime, AnAgentWhoseProgramWasReplacedExitsAndTheNextCallStartsTheNewOne) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  // A copy of the installed programs (the agent finds its helper beside itself).
  const fs::path bin = harness.home() / "bin";
  fs::create_directories(bin);
  const fs::path built = fs::path(P2PCP_AGENT_PROGRAM).parent_path();
  for (const char* program : {"p2pcp-agent", "p2pcp-pkcs11-helper"}) {
    fs::copy_file(built / program, bin / program);
  }
  AgentSetup setup;
  setup.agentProgram = (bin / "p2pcp-agent").string();
  harness.restart(setup);
  const pid_t old = harness.pid();
  ASSERT_FALSE(harness.connect().call("listTokens").empty());
  std::this_thread::sleep_for(1500ms);
  ASSERT_FALSE(harness.waitForExit(0ms).has_value()) << "exited before the upgrade";

  // The upgrade: a new file renamed over the running program, as dpkg does.
  fs::copy_file(built / "p2pcp-agent", bin / "p2pcp-agent.dpkg-new");
  fs::rename(bin / "p2pcp-agent.dpkg-new", bin / "p2pcp-agent");
  const auto status = harness.waitForExit(10s);
  ASSERT_TRUE(status.has_value()) << "the agent kept running the replaced program";
  EXPECT_EQ(*status, 0) << harness.agentLog();
  EXPECT_NE(harness.agentLog().find("was replaced or removed"), std::string::npos)
      << harness.agentLog();

  const pid_t next = agentPidByCli(harness, {{"P2PCP_NO_AUTOSTART", ""}});
  EXPECT_GT(next, 0);
  EXPECT_NE(next, old);
  const auto keys = harness.run({P2PCP_CLI_PROGRAM, "keys"}, {{"P2PCP_NO_AUTOSTART", ""}});
  EXPECT_EQ(keys.exitCode, 0) << keys.output;
  EXPECT_NE(keys.output.find("fixture-p256"), std::string::npos) << keys.output;
  endIfRunning(next);
}

TEST(AgentLifetime, AnAgentWhoseProgramWasRemovedExits) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  const fs::path bin = harness.home() / "bin";
  fs::create_directories(bin);
  const fs::path built = fs::path(P2PCP_AGENT_PROGRAM).parent_path();
  for (const char* program : {"p2pcp-agent", "p2pcp-pkcs11-helper"}) {
    fs::copy_file(built / program, bin / program);
  }
  AgentSetup setup;
  setup.agentProgram = (bin / "p2pcp-agent").string();
  harness.restart(setup);
  fs::remove(bin / "p2pcp-agent");  // a purge
  const auto status = harness.waitForExit(10s);
  ASSERT_TRUE(status.has_value()) << "the agent kept running a purged program";
  EXPECT_EQ(*status, 0) << harness.agentLog();
}

}  // namespace
}  // namespace p2pcp::testing
