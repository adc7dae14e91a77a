// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor on the agent's side: a healthy setup, the output forms, the
// agent (running, started, not startable, autostart off, a replaced binary),
// its socket directory and socket, modules, the agent policy, agent.json and
// pinentry, each broken in turn (doctor_fixture.hpp).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using p2pcp::testing::AgentSetup;
using p2pcp::testing::doctor::describe;
using p2pcp::testing::doctor::Doctor;
using p2pcp::testing::doctor::kBuiltInChromiumId;
using p2pcp::testing::doctor::kCli;
using p2pcp::testing::doctor::kHost;
using p2pcp::testing::doctor::writeFile;

TEST_F(Doctor, AHealthySetupReportsEveryCheckOk) {
  startAgent();
  const auto run = doctor(installUserHosts());
  ASSERT_EQ(run.exitCode, 0) << describe(run);
  EXPECT_EQ(run.report["ok"], true);
  EXPECT_EQ(run.report["version"].get<std::string>().empty(), false);
  for (const auto& check : run.report["checks"]) {
    EXPECT_EQ(check["status"], "ok") << check.dump();
    EXPECT_FALSE(check.contains("fix")) << check.dump();
    EXPECT_FALSE(check.value("finding", "").empty()) << check.dump();
  }
  EXPECT_EQ(run.report["counts"]["fail"], 0);
  EXPECT_EQ(run.status("agent.running"), "ok");
  EXPECT_EQ(run.check("agent.running")["details"]["pid"], agent_->pid());
  EXPECT_NE(run.finding("tokens").find("p2pcp-test"), std::string::npos) << describe(run);
  EXPECT_NE(run.finding("modules").find("libsofthsm2.so"), std::string::npos) << describe(run);
  // Every browser's user manifest was written, so each is checked.
  for (const char* id : {"manifest.user.chrome", "manifest.user.chromium", "manifest.user.edge",
                         "manifest.user.brave", "manifest.user.firefox"}) {
    EXPECT_EQ(run.status(id), "ok") << id;
  }
  EXPECT_EQ(run.check("manifest.user.chromium")["details"]["served"], json({kBuiltInChromiumId}));
}

TEST_F(Doctor, PrintsAListForPeopleAndExitsOneWhenACheckFails) {
  startAgent();
  const auto run = doctor("", {{"P2PCP_PINENTRY", "/nonexistent/pinentry"}}, kCli, false);
  EXPECT_EQ(run.exitCode, 1) << describe(run);
  EXPECT_NE(run.out.find("ok    agent.running: p2pcp-agent"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("FAIL  pinentry: the pinentry program \"/nonexistent/pinentry\""),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("      fix: "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(" failed"), std::string::npos) << run.out;
}

TEST_F(Doctor, AgentNotRunningIsStartedAndSaidSo) {
  startAgent().stop();
  const auto run = doctor(installUserHosts());
  adopt(run);
  EXPECT_EQ(run.status("agent.running"), "ok") << describe(run);
  EXPECT_NE(run.finding("agent.running").find("was not running; started p2pcp-agent"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.check("agent.running")["details"]["started"], true);
  EXPECT_EQ(run.status("tokens"), "ok") << describe(run);
  EXPECT_EQ(run.exitCode, 0) << describe(run);
}

TEST_F(Doctor, AgentThatCannotBeStartedIsAFailureWithTheReinstallCommand) {
  startAgent().stop();
  // The CLI alone, without the agent beside it or in PATH: a broken install.
  const fs::path lonely = scratch_ / "bin" / "p2pcp";
  fs::create_directories(lonely.parent_path());
  fs::copy_file(kCli, lonely);
  const auto run = doctor("rm -f /usr/bin/p2pcp-agent /usr/local/bin/p2pcp-agent",
                          {{"PATH", "/usr/bin:/bin"}}, lonely.string());
  EXPECT_EQ(run.exitCode, 1) << describe(run);
  EXPECT_EQ(run.status("agent.start"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.start").find("p2pcp-agent is neither beside p2pcp nor in PATH"),
            std::string::npos);
  EXPECT_EQ(run.fix("agent.start"), "apt-get install --reinstall p2pcp-agent");
  EXPECT_EQ(run.status("agent.running"), "fail");
  EXPECT_NE(run.finding("agent.running").find("does not start"), std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("agent.running"), "apt-get install --reinstall p2pcp-agent");
  EXPECT_EQ(run.status("modules"), "skip");
}

TEST_F(Doctor, AgentNotRunningWithAutostartOffSaysHowToStartIt) {
  startAgent().stop();
  const auto run = doctor(installUserHosts(), {{"P2PCP_NO_AUTOSTART", "1"}});
  EXPECT_EQ(run.exitCode, 1);
  EXPECT_EQ(run.status("agent.running"), "fail");
  EXPECT_NE(run.finding("agent.running").find("P2PCP_NO_AUTOSTART is set"), std::string::npos);
  EXPECT_EQ(run.fix("agent.running"), "p2pcp-agent --daemon");
  EXPECT_EQ(run.status("agent.start"), "warn");
  EXPECT_EQ(run.fix("agent.start"), "unset P2PCP_NO_AUTOSTART");
}

TEST_F(Doctor, SocketDirectoryOpenToOthersIsRefusedWithChmod) {
  auto& agent = startAgent();
  const fs::path dir = agent.socket().parent_path();
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  const auto run = doctor(installUserHosts());
  EXPECT_EQ(run.exitCode, 1) << describe(run);
  EXPECT_EQ(run.status("agent.socket-directory"), "fail");
  EXPECT_NE(run.finding("agent.socket-directory").find("its mode is 0755, not 0700"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("agent.socket-directory"), "chmod 700 '" + dir.string() + "'");
  // Nothing is sent to an agent in such a directory, and none is started.
  EXPECT_EQ(run.status("agent.running"), "fail");
  EXPECT_EQ(run.fix("agent.running"), "chmod 700 '" + dir.string() + "'");
  EXPECT_EQ(run.status("tokens"), "skip");
}

TEST_F(Doctor, SocketDirectoryOfAnotherUserIsRefused) {
  auto& agent = startAgent();
  const fs::path dir = agent.socket().parent_path();
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  const auto run = doctor(installUserHosts());
  EXPECT_EQ(run.status("agent.socket-directory"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.socket-directory").find("owned by uid 65534"), std::string::npos);
  // The directory came from P2PCP_AGENT_SOCK, not from the agent: removing it could be
  // /tmp or a home. Only the agent's own directory (…/p2pcp) is ever offered for removal.
  EXPECT_EQ(run.fix("agent.socket-directory"),
            "unset P2PCP_AGENT_SOCK (or point it at a socket in a directory of your own, mode "
            "0700)");
  ASSERT_EQ(::chown(dir.c_str(), 0, 0), 0);
}

TEST_F(Doctor, SocketDirectoryThatIsASymlinkIsRefusedWithRm) {
  auto& agent = startAgent();
  agent.stop();
  const fs::path dir = agent.socket().parent_path();
  const fs::path real = scratch_ / "elsewhere";
  fs::rename(dir, real);
  fs::create_directory_symlink(real, dir);
  const auto run = doctor(installUserHosts());
  EXPECT_EQ(run.status("agent.socket-directory"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.socket-directory").find("it is a symbolic link"), std::string::npos);
  EXPECT_EQ(run.fix("agent.socket-directory"), "rm '" + dir.string() + "'");
  EXPECT_EQ(run.status("agent.running"), "fail");
}

TEST_F(Doctor, SocketPathThatIsNotASocketIsNamed) {
  auto& agent = startAgent();
  agent.stop();
  fs::remove(agent.socket());  // the stopped agent's socket stays behind
  writeFile(agent.socket(), "not a socket\n");
  const auto run = doctor(installUserHosts(), {{"P2PCP_NO_AUTOSTART", "1"}});
  EXPECT_EQ(run.status("agent.socket"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.socket").find("is not a socket"), std::string::npos);
  EXPECT_EQ(run.fix("agent.socket"), "rm '" + agent.socket().string() + "'");
}

TEST_F(Doctor, RuntimeDirectoryThatIsNotThereIsNamed) {
  startAgent().stop();
  const fs::path runtime = scratch_ / "no-such-runtime-dir";
  const auto run =
      doctor(installUserHosts(), {{"P2PCP_AGENT_SOCK", ""}, {"XDG_RUNTIME_DIR", runtime.string()}});
  EXPECT_EQ(run.status("agent.socket-directory"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.socket-directory").find(runtime.string() + ", where the socket"),
            std::string::npos);
  EXPECT_EQ(run.fix("agent.socket-directory"), "mkdir -m 700 -p '" + runtime.string() + "'");
  EXPECT_EQ(run.status("agent.running"), "fail");
}

TEST_F(Doctor, AgentRunningAReplacedBinaryIsToldToRestart) {
  // The agent runs from a copy that is then deleted, as after an upgrade or purge.
  const fs::path bin = scratch_ / "old";
  fs::create_directories(bin);
  const fs::path buildBin = fs::path(P2PCP_AGENT_PROGRAM_PATH).parent_path();
  fs::copy_file(buildBin / "p2pcp-agent", bin / "p2pcp-agent");
  fs::copy_file(buildBin / "p2pcp-pkcs11-helper", bin / "p2pcp-pkcs11-helper");
  AgentSetup setup;
  setup.launcher = {"/bin/sh", "-c", "shift; exec " + (bin / "p2pcp-agent").string() + " \"$@\"",
                    "sh"};
  auto& agent = startAgent(setup);
  fs::remove(bin / "p2pcp-agent");
  const auto run = doctor(installUserHosts());
  EXPECT_EQ(run.status("agent.version"), "warn") << describe(run);
  EXPECT_NE(run.finding("agent.version").find("(deleted)"), std::string::npos) << describe(run);
  EXPECT_EQ(run.fix("agent.version"), "kill " + std::to_string(agent.pid()));
  EXPECT_EQ(run.exitCode, 0) << "a warning is not a failure: " << describe(run);
}

TEST_F(Doctor, ModuleThatFailsToLoadIsNamedWithTheReason) {
  const fs::path notAModule = scratch_ / "not-a-module.so";
  writeFile(notAModule, "this is not a shared object\n");
  // The agent serves this module alone; its helper cannot load it. Started
  // by doctor, as p2pcp starts it, so that its log is where p2pcp keeps it.
  AgentSetup setup;
  setup.importFixtures = false;
  setup.module = notAModule.string();
  startAgent(setup).stop();
  const auto run = doctor(installUserHosts());
  adopt(run);
  EXPECT_NE(run.finding("modules").find("(the helper said: cannot load PKCS#11 module " +
                                        notAModule.string()),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.exitCode, 1) << describe(run);
  EXPECT_EQ(run.status("modules"), "fail") << describe(run);
  EXPECT_NE(run.finding("modules").find("failed to load: "), std::string::npos);
  EXPECT_NE(run.finding("modules").find(notAModule.string()), std::string::npos) << describe(run);
  EXPECT_EQ(run.check("modules")["details"]["modules"][0]["available"], false);
  EXPECT_FALSE(run.check("modules")["details"]["modules"][0].value("error", "").empty())
      << describe(run);
  // Why, in the helper's words, from the log of the agent p2pcp started.
  EXPECT_EQ(run.fix("modules"), "unset P2PCP_PKCS11_MODULE");
  EXPECT_EQ(run.status("tokens"), "warn");
}

TEST_F(Doctor, RegisteredModuleThatFailsNamesItsP11KitModuleFile) {
  if (!fs::exists("/usr/share/p11-kit/modules/softhsm2.module")) {
    GTEST_SKIP() << "p11-kit does not register SoftHSM2 here";
  }
  // p11-kit's registry, as on a desktop; SoftHSM2 cannot initialise without
  // its configuration, so its helper fails while the others serve.
  AgentSetup setup;
  setup.importFixtures = false;
  setup.registeredModules = true;
  startAgent(setup).stop();
  const auto run = doctor(installUserHosts(), {{"SOFTHSM2_CONF", (scratch_ / "none.conf").string()},
                                               {"P2PCP_PKCS11_MODULE", ""}});
  adopt(run);
  EXPECT_NE(run.finding("modules").find("libsofthsm2.so"), std::string::npos) << describe(run);
  EXPECT_NE(run.finding("modules").find(
                "p11-kit registers it in /usr/share/p11-kit/modules/softhsm2.module"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("modules"), "\"${EDITOR:-vi}\" '/usr/share/p11-kit/modules/softhsm2.module'");
}

TEST_F(Doctor, MalformedAgentPolicyNamesTheFieldAndStopsTheStart) {
  startAgent().stop();
  const std::string setup = installUserHosts() +
                            "mkdir -p /etc/p2pcp-agent && echo '{\"rawSigning\": \"yes\"}' > "
                            "/etc/p2pcp-agent/policy.json";
  const auto run = doctor(setup);
  adopt(run);
  EXPECT_EQ(run.exitCode, 1) << describe(run);
  EXPECT_EQ(run.status("policy"), "fail");
  EXPECT_NE(run.finding("policy").find(
                "/etc/p2pcp-agent/policy.json: field \"rawSigning\" has the wrong type"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("policy"), "\"${EDITOR:-vi}\" '/etc/p2pcp-agent/policy.json'");
  // The agent refuses to start with it, and doctor says which fix that needs.
  EXPECT_EQ(run.status("agent.running"), "fail") << describe(run);
  EXPECT_EQ(run.fix("agent.running"), run.fix("policy"));
  // The host would serve no extension: the manifests' ids are not compared.
  EXPECT_NE(run.finding("manifest.user.chromium").find("the policy is malformed"),
            std::string::npos);
}

// agent.json turns the WebSocket front door on at a port another program
// holds: the agent serves its socket, doctor names the port and the fix.
TEST_F(Doctor, AWebSocketPortInUseIsAFailureWithTheFix) {
  const int squatter = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(squatter, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(squatter, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(squatter, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(squatter, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string port = std::to_string(ntohs(address.sin_port));
  auto& agent = startAgent();
  const fs::path settings = agent.home() / "config" / "p2pcp" / "agent.json";
  writeFile(settings, R"({"webSocket": {"port": )" + port + "}}");
  agent.restart(AgentSetup{});
  const auto run = doctor(installUserHosts());
  ::close(squatter);
  EXPECT_EQ(run.exitCode, 1) << describe(run);
  EXPECT_EQ(run.status("agent.running"), "ok") << "the Unix socket is served all the same";
  EXPECT_EQ(run.status("agent.websocket"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.websocket").find("port " + port + " is already in use"),
            std::string::npos)
      << describe(run);
  EXPECT_NE(run.finding("agent.websocket").find("ss -ltnp 'sport = :" + port + "'"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("agent.websocket"),
            "\"${EDITOR:-vi}\" '" + settings.string() + "' && kill " + std::to_string(agent.pid()));
}

TEST_F(Doctor, MissingPinentryIsAFailureWithTheFix) {
  startAgent();
  const auto run = doctor(installUserHosts(), {{"P2PCP_PINENTRY", "/nonexistent/pinentry"}});
  EXPECT_EQ(run.exitCode, 1);
  EXPECT_EQ(run.status("pinentry"), "fail");
  EXPECT_NE(run.finding("pinentry").find("\"/nonexistent/pinentry\" is not found"),
            std::string::npos);
  EXPECT_FALSE(run.fix("pinentry").empty());
  // Named in agent.json, the fix opens agent.json.
  const fs::path config =
      fs::path(agent_->environment().at("XDG_CONFIG_HOME")) / "p2pcp/agent.json";
  writeFile(config, R"({"pinentry": "pinentry-that-does-not-exist"})");
  const auto configured = doctor(installUserHosts(), {{"P2PCP_PINENTRY", ""}});
  EXPECT_EQ(configured.status("pinentry"), "fail") << describe(configured);
  EXPECT_EQ(configured.fix("pinentry"), "\"${EDITOR:-vi}\" '" + config.string() + "'");
}

TEST_F(Doctor, TerminalPinentryWithADisplayIsAWarning) {
  if (!fs::exists("/usr/bin/pinentry-tty")) {
    GTEST_SKIP() << "pinentry-tty is not installed";
  }
  startAgent();
  const auto run =
      doctor(installUserHosts(), {{"P2PCP_PINENTRY", "/usr/bin/pinentry-tty"}, {"DISPLAY", ":77"}});
  EXPECT_EQ(run.status("pinentry"), "warn") << describe(run);
  EXPECT_NE(run.finding("pinentry").find("(terminal only)"), std::string::npos);
  EXPECT_NE(run.finding("pinentry").find("there is a display (:77)"), std::string::npos);
  EXPECT_FALSE(run.fix("pinentry").empty());
}

TEST_F(Doctor, MalformedAgentSettingsNameTheField) {
  startAgent();
  const fs::path config =
      fs::path(agent_->environment().at("XDG_CONFIG_HOME")) / "p2pcp/agent.json";
  writeFile(config, R"({"pinentri": "pinentry"})");
  const auto run = doctor(installUserHosts());
  EXPECT_EQ(run.status("settings"), "fail") << describe(run);
  EXPECT_NE(run.finding("settings").find("unknown field \"pinentri\""), std::string::npos);
  EXPECT_EQ(run.fix("settings"), "\"${EDITOR:-vi}\" '" + config.string() + "'");
}

}  // namespace
