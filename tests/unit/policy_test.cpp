// SPDX-License-Identifier: Apache-2.0
// Policy::load and Config::load: the administrator's policy fails closed. Every
// malformed entry, a file that exists but cannot be read as one, and a
// duplicate key stop loading with an error naming the file and the entry.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "p2pcp/agent/config.hpp"

namespace p2pcp::agent {
namespace {

namespace fs = std::filesystem;

class PolicyLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "p2pcp-policy.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    file_ = dir_ / "policy.json";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& text) const { std::ofstream(file_, std::ios::trunc) << text; }

  // The error loading `text` as the policy gives, or "" when it loads.
  [[nodiscard]] std::string errorLoading(const std::string& text) const {
    write(text);
    return errorOf([&] { (void)Policy::load(file_); });
  }

  template <typename Load>
  static std::string errorOf(Load load) {
    try {
      load();
      return "";
    } catch (const std::runtime_error& e) {
      return e.what();
    }
  }

  fs::path dir_;
  fs::path file_;
};

TEST_F(PolicyLoad, AFullPolicyLoads) {
  write(R"({
    "$comment": "every field",
    "allowedModules": ["/usr/lib/softhsm/libsofthsm2.so", "/opt/vendor/not-installed.so"],
    "origins": {
      "allow": ["https://corp.example", "https://*.corp.example"],
      "fullAccess": ["https://app.p2pcp.example"],
      "block": ["https://evil.example", "http://*.ads.example:8080"],
      "onlyAllowed": true,
      "sameSpace": [["https://app.example", "https://www.app.example"],
                    ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"]]
    },
    "pinCacheSeconds": 30,
    "pinCacheMaxSeconds": 3600,
    "rawSigning": true,
    "keyGeneration": false,
    "allowedExtensions": ["hpncikinbmmcogikfdckffepdimmcaaa", "key-agent@p2pcp.dev",
                          "{12345678-abcd-abcd-9999-0123456789ab}"]
  })");
  const Policy policy = Policy::load(file_);
  ASSERT_EQ(policy.allowedModules.size(), 2U);
  EXPECT_EQ(policy.allowedModules[1], "/opt/vendor/not-installed.so") << "kept as written";
  const OriginRules& origins = policy.origins;
  ASSERT_EQ(origins.allow.size(), 2U);
  EXPECT_EQ(origins.allow[1].text(), "https://*.corp.example");
  EXPECT_TRUE(origins.allow[1].matches("https://a.corp.example"));
  ASSERT_EQ(origins.fullAccess.size(), 1U);
  EXPECT_TRUE(origins.fullAccess[0].matches("https://app.p2pcp.example"));
  ASSERT_EQ(origins.block.size(), 2U);
  EXPECT_TRUE(origins.block[1].matches("http://x.ads.example:8080"));
  EXPECT_TRUE(origins.onlyAllowed);
  ASSERT_EQ(origins.sameSpace.size(), 2U);
  EXPECT_EQ(origins.sameSpace[1],
            (std::vector<std::string>{"http://localhost:8080", "http://127.0.0.1:8080",
                                      "http://[::1]:8080"}));
  EXPECT_EQ(policy.pinCacheIdle.count(), 30);
  EXPECT_EQ(policy.pinCacheMax.count(), 3600);
  EXPECT_TRUE(policy.rawSigning);
  EXPECT_FALSE(policy.keyGeneration);
  EXPECT_EQ(policy.allowedExtensions.size(), 3U);
}

TEST_F(PolicyLoad, NothingAtThePathMeansTheDefaults) {
  const Policy policy = Policy::load(dir_ / "absent.json");
  EXPECT_FALSE(policy.rawSigning);
  EXPECT_TRUE(policy.origins.allow.empty());
  EXPECT_FALSE(policy.origins.onlyAllowed);
  EXPECT_NO_THROW((void)Policy::load(dir_ / "no-such-dir" / "policy.json"));
}

TEST_F(PolicyLoad, EachMalformedOriginEntryIsNamed) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"origins": {"allow": ["https://corp.example", "https://App.example/"]}})",
       R"(origins.allow[1] "https://App.example/" is not a canonical origin; write "https://app.example")"},
      {R"({"origins": {"allow": ["https://app.example/path"]}})",
       R"(origins.allow[0] "https://app.example/path" is not a valid origin: an origin has no path)"},
      {R"({"origins": {"block": ["*.corp.example"]}})",
       R"(origins.block[0] "*.corp.example" is not a valid origin: a wildcard must be)"},
      {R"({"origins": {"fullAccess": ["https://*.com"]}})",
       R"(origins.fullAccess[0] "https://*.com" is not a valid origin: a wildcard must cover a domain of at least two labels)"},
      {R"({"origins": {"block": ["*"]}})", R"(origins.block[0] "*" is not a valid origin)"},
      {R"({"origins": {"allow": ["https://a*.example"]}})",
       R"(origins.allow[0] "https://a*.example")"},
      {R"({"origins": {"allow": ["https://app.example:443"]}})", R"(write "https://app.example")"},
      {R"({"origins": {"allow": [7]}})", R"(field "origins.allow[0]" has the wrong type)"},
      {R"({"origins": {"allow": "https://app.example"}})",
       R"(field "origins.allow" has the wrong type)"},
      {R"({"origins": {"alow": []}})", R"(unknown field "origins.alow")"},
      {R"({"origins": {"onlyAllowed": "yes"}})",
       R"(field "origins.onlyAllowed" has the wrong type)"},
      {R"({"origins": []})", R"(field "origins" has the wrong type)"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string error = errorLoading(text);
    EXPECT_NE(error.find(expected), std::string::npos) << text << "\n  gave: " << error;
    EXPECT_TRUE(error.starts_with(file_.string() + ": ")) << "names the file: " << error;
  }
}

TEST_F(PolicyLoad, SameSpaceTakesGroupsOfDistinctExactOrigins) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"origins": {"sameSpace": [["https://a.example", "https://*.a.example"]]}})",
       R"(origins.sameSpace[0][1] "https://*.a.example" is not a valid origin: only exact origins)"},
      {R"({"origins": {"sameSpace": [["https://a.example", "https://B.example"]]}})",
       R"(origins.sameSpace[0][1] "https://B.example" is not a canonical origin; write "https://b.example")"},
      {R"({"origins": {"sameSpace": [["https://a.example"]]}})",
       R"(origins.sameSpace[0] must list at least 2 origins)"},
      {R"({"origins": {"sameSpace": [[]]}})", R"(origins.sameSpace[0] must list at least 2)"},
      {R"({"origins": {"sameSpace": [["https://a.example", "https://a.example"]]}})",
       R"(origins.sameSpace[0][1] "https://a.example" appears twice in origins.sameSpace[0])"},
      {R"({"origins": {"sameSpace": [["https://a.example", "https://b.example"],
                                     ["https://c.example", "https://a.example"]]}})",
       R"(origins.sameSpace[1][1] "https://a.example" is already in origins.sameSpace[0])"},
      {R"({"origins": {"sameSpace": ["https://a.example"]}})",
       R"(field "origins.sameSpace[0]" has the wrong type)"},
      {R"({"origins": {"sameSpace": [["https://a.example", 2]]}})",
       R"(field "origins.sameSpace[0][1]" has the wrong type)"},
      {R"({"origins": {"sameSpace": {"a": 1}}})",
       R"(field "origins.sameSpace" has the wrong type)"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string error = errorLoading(text);
    EXPECT_NE(error.find(expected), std::string::npos) << text << "\n  gave: " << error;
  }
}

TEST_F(PolicyLoad, ExtensionIdsAndModulePathsAreChecked) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"allowedExtensions": ["hpncikinbmmcogikfdckffepdimmcaaa", "not an id"]})",
       R"(allowedExtensions[1] "not an id" is neither a Chromium extension id)"},
      {R"({"allowedExtensions": ["HPNCIKINBMMCOGIKFDCKFFEPDIMMCAAA"]})",
       R"(allowedExtensions[0] "HPNCIKINBMMCOGIKFDCKFFEPDIMMCAAA")"},
      {R"({"allowedExtensions": ["{not-a-guid}"]})", R"(allowedExtensions[0] "{not-a-guid}")"},
      {R"({"allowedModules": ["/usr/lib/x.so", "libsofthsm2.so"]})",
       R"(allowedModules[1] "libsofthsm2.so" is not an absolute path)"},
      {R"({"allowedModules": [""]})", R"(allowedModules[0] "" is not an absolute path)"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string error = errorLoading(text);
    EXPECT_NE(error.find(expected), std::string::npos) << text << "\n  gave: " << error;
  }
}

TEST_F(PolicyLoad, OtherFieldsStayStrict) {
  EXPECT_NE(errorLoading(R"({"rawSigning": "true"})").find(R"("rawSigning" has the wrong type)"),
            std::string::npos);
  EXPECT_NE(errorLoading(R"({"unknown": 1})").find(R"(unknown field "unknown")"),
            std::string::npos);
  EXPECT_NE(errorLoading(R"({"pinCacheSeconds": -5})").find("must be 0 to 604800"),
            std::string::npos);
  EXPECT_NE(errorLoading(R"({"pinCacheSeconds": 18446744073709551615})").find("must be 0 to"),
            std::string::npos);
  EXPECT_NE(errorLoading(R"({"pinCacheSeconds": 1.5})").find("wrong type"), std::string::npos);
  EXPECT_NE(errorLoading("[]").find("must hold a JSON object"), std::string::npos);
  EXPECT_NE(errorLoading("{").find("invalid JSON"), std::string::npos);
  EXPECT_NE(errorLoading("").find("invalid JSON"), std::string::npos);
}

// The reproduced hole: a second "rawSigning" further down used to win silently.
TEST_F(PolicyLoad, ADuplicateKeyAnywhereIsAnErrorNamingTheKey) {
  const std::string top = errorLoading(R"({"rawSigning": false, "keyGeneration": true,
                                           "rawSigning": true})");
  EXPECT_NE(top.find(R"(duplicate key "rawSigning")"), std::string::npos) << top;
  EXPECT_TRUE(top.starts_with(file_.string() + ": ")) << top;
  const std::string nested =
      errorLoading(R"({"origins": {"onlyAllowed": true, "onlyAllowed": false}})");
  EXPECT_NE(nested.find(R"(duplicate key "onlyAllowed")"), std::string::npos) << nested;
}

TEST_F(PolicyLoad, DeepNestingIsRefused) {
  const std::string deep = R"({"$comment": )" + std::string(100000, '[');
  EXPECT_NE(errorLoading(deep).find("nested deeper than"), std::string::npos);
}

TEST_F(PolicyLoad, APathThatExistsButIsNoReadableFileIsAnError) {
  // A dangling symbolic link: the policy was meant to be there.
  fs::create_symlink(dir_ / "gone.json", file_);
  std::string error = errorOf([&] { (void)Policy::load(file_); });
  EXPECT_NE(error.find(file_.string()), std::string::npos) << error;
  EXPECT_NE(
      error.find("symbolic link to " + (dir_ / "gone.json").string() + ", which does not exist"),
      std::string::npos)
      << error;
  fs::remove(file_);

  // A symbolic link to a good file is followed.
  std::ofstream(dir_ / "real.json") << R"({"rawSigning": true})";
  fs::create_symlink(dir_ / "real.json", file_);
  EXPECT_TRUE(Policy::load(file_).rawSigning);
  fs::remove(file_);

  fs::create_directory(file_);
  error = errorOf([&] { (void)Policy::load(file_); });
  EXPECT_NE(error.find(file_.string() + ": is a directory"), std::string::npos) << error;
  fs::remove(file_);

  ASSERT_EQ(::mkfifo(file_.c_str(), 0600), 0);
  error = errorOf([&] { (void)Policy::load(file_); });  // must not wait for a writer
  EXPECT_NE(error.find("is a FIFO"), std::string::npos) << error;
  fs::remove(file_);

  fs::create_symlink("/dev/zero", file_);
  error = errorOf([&] { (void)Policy::load(file_); });
  EXPECT_NE(error.find("is a device"), std::string::npos) << error;
  fs::remove(file_);

  // A symlink loop.
  fs::create_symlink(file_, file_);
  error = errorOf([&] { (void)Policy::load(file_); });
  EXPECT_NE(error.find(file_.string() + ": cannot open"), std::string::npos) << error;
  fs::remove(file_);

  // A path through a file: it exists in a broken form, not "absent".
  std::ofstream(dir_ / "plain") << "{}";
  error = errorOf([&] { (void)Policy::load(dir_ / "plain" / "policy.json"); });
  EXPECT_NE(error.find("cannot look at it"), std::string::npos) << error;

  write(std::string(1024 * 1024 + 1, ' '));
  error = errorOf([&] { (void)Policy::load(file_); });
  EXPECT_NE(error.find("larger than"), std::string::npos) << error;
}

TEST_F(PolicyLoad, AnUnreadableFileIsAnError) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root reads files whatever their mode";
  }
  write(R"({"rawSigning": false})");
  fs::permissions(file_, fs::perms::none);
  const std::string error = errorOf([&] { (void)Policy::load(file_); });
  EXPECT_NE(error.find(file_.string() + ": cannot open: Permission denied"), std::string::npos)
      << error;
}

TEST_F(PolicyLoad, TheSettingsFileFollowsTheSameRules) {
  const fs::path settings = dir_ / "agent.json";
  EXPECT_EQ(Config::load(settings).pinentry.empty(), false) << "absent: defaults";
  fs::create_symlink(dir_ / "gone.json", settings);
  EXPECT_NE(errorOf([&] { (void)Config::load(settings); }).find("which does not exist"),
            std::string::npos);
  fs::remove(settings);
  std::ofstream(settings) << R"({"pinentry": "a", "pinentry": "b"})";
  EXPECT_NE(errorOf([&] { (void)Config::load(settings); }).find(R"(duplicate key "pinentry")"),
            std::string::npos);
  std::ofstream(settings, std::ios::trunc) << R"({"defaultKey": "pkcs11:object=k"})";
  EXPECT_EQ(Config::load(settings).defaultKey, "pkcs11:object=k");
}

// The loopback WebSocket front door: the person's agent.json turns it on with a
// port; the policy can only forbid it (or leave it to the person).
TEST_F(PolicyLoad, TheWebSocketPortAndThePolicySwitch) {
  const fs::path settings = dir_ / "agent.json";
  EXPECT_FALSE(Config::load(settings).webSocketPort) << "off by default";
  std::ofstream(settings) << R"({"webSocket": {"port": 7433}})";
  EXPECT_EQ(Config::load(settings).webSocketPort, 7433);
  for (const char* bad :
       {R"({"webSocket": {"port": 0}})", R"({"webSocket": {"port": 65536}})",
        R"({"webSocket": {"port": -1}})", R"({"webSocket": {"port": "7433"}})",
        R"({"webSocket": {"port": 7433, "host": "0.0.0.0"}})", R"({"webSocket": {"host": "::"}})",
        R"({"webSocket": 7433})", R"({"webSocket": true})"}) {
    std::ofstream(settings, std::ios::trunc) << bad;
    EXPECT_NE(errorOf([&] { (void)Config::load(settings); }).find("webSocket"), std::string::npos)
        << bad;
  }
  EXPECT_TRUE(Policy::load(dir_ / "absent.json").webSocket) << "left to the person";
  write(R"({"webSocket": false})");
  EXPECT_FALSE(Policy::load(file_).webSocket);
  EXPECT_FALSE(Policy::load(file_).webSocketPort);
  // The administrator may also turn it on, at a port of the policy's choosing.
  write(R"({"webSocket": {"port": 7433, "$comment": "every user's agent tries this port"}})");
  EXPECT_TRUE(Policy::load(file_).webSocket);
  EXPECT_EQ(Policy::load(file_).webSocketPort, 7433);
  write(R"({"webSocket": true})");
  EXPECT_FALSE(Policy::load(file_).webSocketPort) << "true leaves the port to the person";
  for (const char* bad : {R"({"webSocket": {"host": "::"}})", R"({"webSocket": {"port": 0}})",
                          R"({"webSocket": {"port": 65536}})", R"({"webSocket": {"port": "7433"}})",
                          R"({"webSocket": {"port": 7433, "host": "0.0.0.0"}})",
                          R"({"webSocket": 7433})", R"({"webSocket": "on"})"}) {
    EXPECT_NE(errorLoading(bad).find("webSocket"), std::string::npos) << bad;
  }
}

// "webSocket": {} turns the front door on at the one documented default port,
// so a page can connect without asking the person for a number; a "port"
// still wins. The same in agent.json and in the policy.
TEST_F(PolicyLoad, AnEmptyWebSocketObjectMeansTheDefaultPort) {
  EXPECT_EQ(kDefaultWebSocketPort, 24872) << "documented in docs/configuration.md and p2pcp-ws.js";
  const fs::path settings = dir_ / "agent.json";
  std::ofstream(settings) << R"({"webSocket": {}})";
  EXPECT_EQ(Config::load(settings).webSocketPort, 24872);
  std::ofstream(settings, std::ios::trunc) << R"({"webSocket": {"$comment": "the default port"}})";
  EXPECT_EQ(Config::load(settings).webSocketPort, 24872);
  std::ofstream(settings, std::ios::trunc) << R"({"webSocket": {"port": 7433}})";
  EXPECT_EQ(Config::load(settings).webSocketPort, 7433) << "a port wins over the default";
  write(R"({"webSocket": {}})");
  EXPECT_TRUE(Policy::load(file_).webSocket);
  EXPECT_EQ(Policy::load(file_).webSocketPort, 24872);
  write(R"({"webSocket": {"port": 7433}})");
  EXPECT_EQ(Policy::load(file_).webSocketPort, 7433);
}

}  // namespace
}  // namespace p2pcp::agent
