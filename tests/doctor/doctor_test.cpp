// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor, end to end: the shipped p2pcp binary against a real agent on
// a SoftHSM2 token, run as root in a private mount namespace whose /etc, /usr
// and /opt are writable copies (private-system.sh), so each test can break one
// thing where the real paths are (a manifest, a browser policy, the agent
// policy, ...) and see doctor name that problem and the command that fixes it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent_harness.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using p2pcp::testing::AgentHarness;
using p2pcp::testing::AgentSetup;

namespace {

const std::string kCli = P2PCP_CLI_PROGRAM;
const std::string kHost = P2PCP_HOST_PROGRAM;
const std::string kBuiltInChromiumId = "hpncikinbmmcogikfdckffepdimmcaaa";

struct DoctorRun {
  int exitCode = -1;
  std::string out;
  std::string err;
  json report;  // parsed stdout with --json

  [[nodiscard]] json check(const std::string& id) const {
    for (const auto& check : report.at("checks")) {
      if (check.at("id") == id) {
        return check;
      }
    }
    ADD_FAILURE() << "no check " << id << " in " << out;
    return json::object();
  }
  [[nodiscard]] std::string status(const std::string& id) const {
    return check(id).value("status", "");
  }
  [[nodiscard]] std::string finding(const std::string& id) const {
    return check(id).value("finding", "");
  }
  [[nodiscard]] std::string fix(const std::string& id) const { return check(id).value("fix", ""); }
};

std::string readFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// Runs argv with exactly `env`, stdout and stderr to files; returns the exit code.
int run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
        const fs::path& out, const fs::path& err) {
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) {
    argp.push_back(a.data());
  }
  argp.push_back(nullptr);
  std::vector<std::string> envStrings = env;
  std::vector<char*> envp;
  for (auto& e : envStrings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot run " + argv[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class Doctor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !fs::exists("/usr/bin/unshare") ||
        std::system("/usr/bin/unshare -m --propagation private true") != 0) {  // NOLINT
      GTEST_SKIP() << "needs root and unshare (a private mount namespace)";
    }
    if (const auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    std::string pattern = (fs::temp_directory_path() / "p2pcp-doctor-test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    scratch_ = pattern;
    fs::create_directories(scratch_ / "layers");
    fs::create_directories(home());
  }

  void TearDown() override {
    // Agents doctor started are not our children: stop each by its pid and
    // wait until it is gone before its directory is removed.
    for (const pid_t pid : started_) {
      ::kill(pid, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (::kill(pid, 0) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid, SIGKILL);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    agent_.reset();
    std::error_code ignored;
    fs::remove_all(scratch_, ignored);
  }

  [[nodiscard]] fs::path home() const { return scratch_ / "home"; }

  AgentHarness& startAgent(AgentSetup setup = {}) {
    agent_ = std::make_unique<AgentHarness>(std::move(setup));
    return *agent_;
  }

  // The environment p2pcp runs in: the agent's (its socket, SoftHSM2, the
  // scripted pinentry), a home of its own, and nothing that would change
  // what doctor reads: no P2PCP_POLICY (the real /etc path), no display.
  [[nodiscard]] std::map<std::string, std::string> baseEnvironment() const {
    std::map<std::string, std::string> env;
    if (agent_) {
      env = agent_->environment();
    }
    env["HOME"] = home().string();
    if (!env.contains("XDG_CONFIG_HOME")) {
      env["XDG_CONFIG_HOME"] = (home() / ".config").string();
    }
    env["P2PCP_POLICY"] = "";
    env["P2PCP_NO_AUTOSTART"] = "";
    env["DISPLAY"] = "";
    env["WAYLAND_DISPLAY"] = "";
    return env;
  }

  // Writes the user manifests as p2pcp does, for the host in the build tree.
  [[nodiscard]] std::string installUserHosts() const {
    return kCli + " install-browser-hosts --host " + kHost + " >/dev/null; ";
  }

  // p2pcp doctor in the private namespace, after `setup` (shell, as root, there).
  DoctorRun doctor(const std::string& setup,
                   const std::map<std::string, std::string>& overrides = {},
                   const std::string& program = kCli, bool asJson = true) {
    auto env = baseEnvironment();
    for (const auto& [name, value] : overrides) {
      env[name] = value;
    }
    std::vector<std::string> argv = {"/usr/bin/unshare",
                                     "-m",
                                     "--propagation",
                                     "private",
                                     "/bin/sh",
                                     P2PCP_PRIVATE_SYSTEM,
                                     (scratch_ / "layers").string(),
                                     setup,
                                     program,
                                     "doctor"};
    if (asJson) {
      argv.emplace_back("--json");
    }
    DoctorRun result;
    result.exitCode = run(argv, p2pcp::testing::environmentWith(env), scratch_ / "doctor.out",
                          scratch_ / "doctor.err");
    result.out = readFile(scratch_ / "doctor.out");
    result.err = readFile(scratch_ / "doctor.err");
    if (asJson) {
      result.report = json::parse(result.out, nullptr, false);
      EXPECT_FALSE(result.report.is_discarded()) << result.out << result.err;
      if (result.report.is_discarded()) {
        result.report = {{"checks", json::array()}};
      }
    }
    return result;
  }

  // An agent doctor started: stopped by its pid at the end of the test.
  void adopt(const DoctorRun& run) {
    const json details = run.check("agent.running").value("details", json::object());
    if (details.value("started", false)) {
      started_.push_back(details.value("pid", 0));
    }
  }

  fs::path scratch_;
  std::unique_ptr<AgentHarness> agent_;
  std::vector<pid_t> started_;
};

std::string describe(const DoctorRun& run) {
  return run.out + run.err;
}

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
  EXPECT_EQ(run.fix("agent.socket-directory"), "chmod 700 " + dir.string());
  // Nothing is sent to an agent in such a directory, and none is started.
  EXPECT_EQ(run.status("agent.running"), "fail");
  EXPECT_EQ(run.fix("agent.running"), "chmod 700 " + dir.string());
  EXPECT_EQ(run.status("tokens"), "skip");
}

TEST_F(Doctor, SocketDirectoryOfAnotherUserIsRefused) {
  auto& agent = startAgent();
  const fs::path dir = agent.socket().parent_path();
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  const auto run = doctor(installUserHosts());
  EXPECT_EQ(run.status("agent.socket-directory"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.socket-directory").find("owned by uid 65534"), std::string::npos);
  EXPECT_EQ(run.fix("agent.socket-directory"), "rm -r " + dir.string());
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
  EXPECT_EQ(run.fix("agent.socket-directory"), "rm " + dir.string());
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
  EXPECT_EQ(run.fix("agent.socket"), "rm " + agent.socket().string());
}

TEST_F(Doctor, RuntimeDirectoryThatIsNotThereIsNamed) {
  startAgent().stop();
  const fs::path runtime = scratch_ / "no-such-runtime-dir";
  const auto run =
      doctor(installUserHosts(), {{"P2PCP_AGENT_SOCK", ""}, {"XDG_RUNTIME_DIR", runtime.string()}});
  EXPECT_EQ(run.status("agent.socket-directory"), "fail") << describe(run);
  EXPECT_NE(run.finding("agent.socket-directory").find(runtime.string() + ", where the socket"),
            std::string::npos);
  EXPECT_EQ(run.fix("agent.socket-directory"), "mkdir -m 700 -p " + runtime.string());
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
  EXPECT_EQ(run.fix("modules"), "\"${EDITOR:-vi}\" /usr/share/p11-kit/modules/softhsm2.module");
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
  EXPECT_EQ(run.fix("policy"), "\"${EDITOR:-vi}\" /etc/p2pcp-agent/policy.json");
  // The agent refuses to start with it, and doctor says which fix that needs.
  EXPECT_EQ(run.status("agent.running"), "fail") << describe(run);
  EXPECT_EQ(run.fix("agent.running"), run.fix("policy"));
  // The host would serve no extension: the manifests' ids are not compared.
  EXPECT_NE(run.finding("manifest.user.chromium").find("the policy is malformed"),
            std::string::npos);
}

TEST_F(Doctor, ValidAgentPolicyIsReportedAndItsExtensionIdsAreCompared) {
  startAgent();
  const std::string policyId = "abcdefghijklmnopabcdefghijklmnop";
  const std::string setup = installUserHosts() +
                            "mkdir -p /etc/p2pcp-agent && echo '{\"allowedExtensions\": [\"" +
                            policyId + "\"]}' > /etc/p2pcp-agent/policy.json";
  const auto run = doctor(setup);
  EXPECT_EQ(run.status("policy"), "ok") << describe(run);
  EXPECT_EQ(run.check("policy")["details"]["allowedExtensions"], json({policyId}));
  // The user manifests were written before the policy: they allow the built-in id only.
  EXPECT_EQ(run.status("manifest.user.chromium"), "fail") << describe(run);
  EXPECT_NE(run.finding("manifest.user.chromium")
                .find("it allows " + kBuiltInChromiumId + " but the host serves " + policyId +
                      ": pages get HOST_FORBIDDEN"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("manifest.user.chromium"), "p2pcp install-browser-hosts");
  EXPECT_EQ(run.status("browser.chromium"), "fail");
  // Firefox: the policy names no add-on, so the host serves none.
  EXPECT_EQ(run.status("manifest.user.firefox"), "warn") << describe(run);
}

TEST_F(Doctor, InstalledBrowserWithoutManifestIsAWarningWithTheInstallCommand) {
  startAgent();
  const auto run = doctor(installUserHosts() + "rm -rf " + (home() / ".mozilla").string());
  EXPECT_EQ(run.exitCode, 0) << describe(run);
  // Firefox ESR is installed on these machines; a test that needs it says so.
  if (run.check("browser.firefox")["details"]["installed"].is_null()) {
    GTEST_SKIP() << "Firefox is not installed";
  }
  EXPECT_EQ(run.status("browser.firefox"), "warn") << describe(run);
  EXPECT_NE(run.finding("browser.firefox").find("finds no host manifest"), std::string::npos);
  EXPECT_EQ(run.fix("browser.firefox"), "p2pcp install-browser-hosts");
}

TEST_F(Doctor, BrokenUserManifestsAreEachNamed) {
  startAgent();
  const fs::path config = agent_->environment().at("XDG_CONFIG_HOME");
  const fs::path chromium = config / "chromium/NativeMessagingHosts/dev.p2pcp.agent.json";
  const fs::path chrome = config / "google-chrome/NativeMessagingHosts/dev.p2pcp.agent.json";
  const fs::path edge = config / "microsoft-edge/NativeMessagingHosts/dev.p2pcp.agent.json";
  const fs::path firefox = home() / ".mozilla/native-messaging-hosts/dev.p2pcp.agent.json";
  const std::string origin = "\"chrome-extension://" + kBuiltInChromiumId + "/\"";
  const std::string setup =
      installUserHosts() + "echo '{\"name\": \"dev.p2pcp.agent\",' > " + chromium.string() +
      "; echo '{\"name\": \"dev.p2pcp.agent\", \"type\": \"stdio\", \"path\": "
      "\"/nonexistent/host\", "
      "\"allowed_origins\": [" +
      origin + "]}' > " + chrome.string() +
      "; echo '{\"name\": \"other.host\", \"type\": \"stdio\", \"path\": \"" + kHost +
      "\", \"allowed_origins\": [" + origin + "]}' > " + edge.string() +
      "; echo '{\"name\": \"dev.p2pcp.agent\", \"type\": \"stdio\", \"path\": \"" + kHost +
      "\", \"allowed_origins\": [" + origin + "]}' > " + firefox.string();
  const auto run = doctor(setup);
  EXPECT_EQ(run.exitCode, 1);
  EXPECT_EQ(run.status("manifest.user.chromium"), "fail");
  EXPECT_NE(run.finding("manifest.user.chromium").find("is not a valid JSON object"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("manifest.user.chromium"), "p2pcp install-browser-hosts");
  EXPECT_EQ(run.status("browser.chromium"), "fail");
  EXPECT_EQ(run.fix("browser.chromium"), "p2pcp install-browser-hosts");
  EXPECT_EQ(run.status("manifest.user.chrome"), "fail");
  EXPECT_NE(run.finding("manifest.user.chrome").find("the host /nonexistent/host does not exist"),
            std::string::npos);
  EXPECT_EQ(run.status("manifest.user.edge"), "fail");
  EXPECT_NE(run.finding("manifest.user.edge").find("\"name\" is \"other.host\""),
            std::string::npos);
  EXPECT_EQ(run.status("manifest.user.firefox"), "fail");
  EXPECT_NE(run.finding("manifest.user.firefox")
                .find("has no \"allowed_extensions\" list (it has \"allowed_origins\""),
            std::string::npos)
      << describe(run);
}

TEST_F(Doctor, SystemManifestWithARelativePathIsNamedWithTheSystemFix) {
  startAgent();
  const std::string setup =
      installUserHosts() +
      "mkdir -p /etc/chromium/native-messaging-hosts && echo '{\"name\": \"dev.p2pcp.agent\", "
      "\"type\": \"stdio\", \"path\": \"p2pcp-native-host\", \"allowed_origins\": "
      "[\"chrome-extension://" +
      kBuiltInChromiumId + "/\"]}' > /etc/chromium/native-messaging-hosts/dev.p2pcp.agent.json";
  const auto run = doctor(setup);
  EXPECT_EQ(run.status("manifest.system.chromium"), "fail") << describe(run);
  EXPECT_NE(run.finding("manifest.system.chromium").find("is not an absolute path"),
            std::string::npos);
  EXPECT_EQ(run.fix("manifest.system.chromium"), "p2pcp install-browser-hosts --system");
  // Chromium reads the user manifest first, which is fine.
  EXPECT_EQ(run.status("browser.chromium"), "ok");
}

TEST_F(Doctor, ChromiumPolicyThatBlocksNativeMessagingIsAFailureUntilAllowlisted) {
  startAgent();
  const std::string block =
      installUserHosts() +
      "mkdir -p /etc/chromium/policies/managed && echo '{\"NativeMessagingBlocklist\": [\"*\"]}' > "
      "/etc/chromium/policies/managed/lockdown.json";
  const auto blocked = doctor(block);
  EXPECT_EQ(blocked.exitCode, 1) << describe(blocked);
  EXPECT_EQ(blocked.status("browser-policy.chromium"), "fail");
  EXPECT_NE(blocked.finding("browser-policy.chromium")
                .find("/etc/chromium/policies/managed/lockdown.json blocks native messaging"),
            std::string::npos)
      << describe(blocked);
  const std::string fix = blocked.fix("browser-policy.chromium");
  EXPECT_EQ(fix,
            "echo '{\"NativeMessagingAllowlist\": [\"dev.p2pcp.agent\"]}' | tee "
            "/etc/chromium/policies/managed/p2pcp-native-messaging.json");
  // The fix, run as printed, makes the check pass.
  const auto fixed = doctor(block + " && " + fix + " >/dev/null");
  EXPECT_EQ(fixed.status("browser-policy.chromium"), "ok") << describe(fixed);
  EXPECT_EQ(fixed.exitCode, 0) << describe(fixed);
}

TEST_F(Doctor, UserLevelHostsOffWithOnlyAUserManifestNeedsTheSystemManifest) {
  startAgent();
  const std::string setup =
      installUserHosts() +
      "mkdir -p /etc/opt/edge/policies/managed && echo '{\"NativeMessagingUserLevelHosts\": "
      "false}' > /etc/opt/edge/policies/managed/p.json";
  const auto run = doctor(setup);
  EXPECT_EQ(run.status("browser-policy.edge"), "fail") << describe(run);
  EXPECT_NE(run.finding("browser-policy.edge").find("NativeMessagingUserLevelHosts to false"),
            std::string::npos);
  EXPECT_EQ(run.fix("browser-policy.edge"), "p2pcp install-browser-hosts --system");
  // With the system manifests written as told, it passes.
  const auto fixed = doctor(setup + " && " + kCli + " install-browser-hosts --system --host " +
                            kHost + " >/dev/null");
  EXPECT_EQ(fixed.status("browser-policy.edge"), "ok") << describe(fixed);
  EXPECT_EQ(fixed.status("manifest.system.edge"), "ok") << describe(fixed);
}

TEST_F(Doctor, FirefoxPolicyThatBlocksTheAddOnIsAFailure) {
  startAgent();
  const std::string setup =
      installUserHosts() +
      "mkdir -p /etc/firefox/policies && echo '{\"policies\": {\"ExtensionSettings\": {\"*\": "
      "{\"installation_mode\": \"blocked\"}}}}' > /etc/firefox/policies/policies.json";
  const auto run = doctor(setup);
  EXPECT_EQ(run.status("browser-policy.firefox"), "fail") << describe(run);
  EXPECT_NE(run.finding("browser-policy.firefox").find("blocks the add-on key-agent@p2pcp.dev"),
            std::string::npos)
      << describe(run);
  EXPECT_EQ(run.fix("browser-policy.firefox"),
            "\"${EDITOR:-vi}\" /etc/firefox/policies/policies.json");
  // Force-installing it is what an administrator does (docs/enterprise.md).
  const auto allowed = doctor(
      installUserHosts() +
      "mkdir -p /etc/firefox/policies && echo '{\"policies\": {\"ExtensionSettings\": {\"*\": "
      "{\"installation_mode\": \"blocked\"}, \"key-agent@p2pcp.dev\": {\"installation_mode\": "
      "\"force_installed\", \"install_url\": \"https://example.invalid/p2pcp.xpi\"}}}}' > "
      "/etc/firefox/policies/policies.json");
  EXPECT_EQ(allowed.status("browser-policy.firefox"), "ok") << describe(allowed);
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
  EXPECT_EQ(configured.fix("pinentry"), "\"${EDITOR:-vi}\" " + config.string());
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
  EXPECT_EQ(run.fix("settings"), "\"${EDITOR:-vi}\" " + config.string());
}

}  // namespace
