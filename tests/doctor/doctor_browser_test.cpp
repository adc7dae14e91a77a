// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor on the browsers' side: host manifests (user and system) and
// their extension ids, installed browsers without a manifest, and the browser
// policies that block native messaging or the add-on (doctor_fixture.hpp).
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
            "\"${EDITOR:-vi}\" '/etc/firefox/policies/policies.json'");
  // Force-installing it is what an administrator does (docs/enterprise.md).
  const auto allowed = doctor(
      installUserHosts() +
      "mkdir -p /etc/firefox/policies && echo '{\"policies\": {\"ExtensionSettings\": {\"*\": "
      "{\"installation_mode\": \"blocked\"}, \"key-agent@p2pcp.dev\": {\"installation_mode\": "
      "\"force_installed\", \"install_url\": \"https://example.invalid/p2pcp.xpi\"}}}}' > "
      "/etc/firefox/policies/policies.json");
  EXPECT_EQ(allowed.status("browser-policy.firefox"), "ok") << describe(allowed);
}

TEST_F(Doctor, HostileFilesInTheBrowsersPlacesNeitherHangNorStopTheReport) {
  startAgent();
  const fs::path config = agent_->environment().at("XDG_CONFIG_HOME");
  const fs::path chromium = config / "chromium/NativeMessagingHosts/dev.p2pcp.agent.json";
  // A FIFO as a manifest (opening it for reading would wait for a writer forever), and a
  // Firefox policy whose installation_mode is not a string.
  const std::string setup =
      installUserHosts() + "rm -f " + chromium.string() + " && mkfifo " + chromium.string() +
      " && mkdir -p /etc/firefox/policies && echo '{\"policies\": {\"ExtensionSettings\": "
      "{\"key-agent@p2pcp.dev\": {\"installation_mode\": null}}}}' > "
      "/etc/firefox/policies/policies.json";
  const auto started = std::chrono::steady_clock::now();
  const auto run = doctor(setup);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(run.status("manifest.user.chromium"), "fail") << describe(run);
  EXPECT_NE(run.finding("manifest.user.chromium").find("cannot be read as a regular file"),
            std::string::npos)
      << describe(run);
  // The whole report is there: the Firefox policy was judged, not a crash.
  EXPECT_EQ(run.status("browser-policy.firefox"), "ok") << describe(run);
  EXPECT_EQ(run.status("pinentry"), "ok") << describe(run);
}

}  // namespace
