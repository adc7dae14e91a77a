// SPDX-License-Identifier: Apache-2.0
// Key choice on a real token (issue 10): what listKeys shows each caller, keys
// named by fingerprint, the default key the person chooses (setDefaultKey:
// persisted, ahead of agent.json, never a silent fallback when its key is
// gone), and hello's method list per grade and policy.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "agent_harness.hpp"

namespace p2pcp::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const json kSitePage = {{"origin", "https://site.example"}};
const json kFullPage = {{"origin", "https://full.example"}};
const json kNewPage = {{"origin", "https://new.example"}};
// The extension's popup: the native host marks it with the extension id alone.
const json kPopup = {{"extension", "abcdefghijklmnopabcdefghijklmnop"}};

json tryCall(const AgentHarness& harness, const std::string& method, const json& params,
             const json& meta = json::object()) {
  auto agent = harness.connect();
  try {
    return {{"result", agent.call(method, params, meta)}};
  } catch (const client::AgentCallError& e) {
    return {{"error", e.error()}};
  }
}

std::string codeOf(const json& outcome) {
  return outcome.contains("error") ? outcome["error"]["data"]["error"].get<std::string>() : "OK";
}

json resultOf(const json& outcome) {
  return outcome.value("result", json());
}

std::vector<std::string> memberNames(const json& object) {
  std::vector<std::string> names;
  for (const auto& [name, value] : object.items()) {
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

#define SKIP_WITHOUT_SOFTHSM()                              \
  if (auto missing = AgentHarness::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                               \
  }

class Keys : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_SOFTHSM();
    harness_ = std::make_unique<AgentHarness>(setup());
    auto agent = harness_->connect();
    agent.call("grantConsent", {{"origin", "https://site.example"}, {"access", "site"}});
    agent.call("grantConsent", {{"origin", "https://full.example"}, {"access", "full"}});
    for (const auto& key : agent.call("listKeys")) {
      fingerprints_[key["label"].get<std::string>()] = key["fingerprint"].get<std::string>();
    }
  }
  virtual AgentSetup setup() { return {}; }
  json call(const std::string& method, const json& params, const json& meta = json::object()) {
    return tryCall(*harness_, method, params, meta);
  }
  std::string fingerprint(const std::string& fixture) {
    return fingerprints_.at("fixture-" + fixture);
  }
  // The fingerprint of the key a request without `key` uses, or its error code.
  std::string defaultKeyUsed(const json& meta = json::object()) {
    const json r = call("getPublicKey", json::object(), meta);
    return r.contains("result") ? r["result"]["fingerprint"].get<std::string>() : codeOf(r);
  }
  // The labels listKeys marks as the default.
  std::vector<std::string> markedDefault(const json& meta = json::object()) {
    std::vector<std::string> labels;
    for (const auto& key : resultOf(call("listKeys", json::object(), meta))) {
      if (key.value("default", false)) {
        labels.push_back(key["label"]);
      }
    }
    return labels;
  }
  void writeAgentJson(const json& config) {
    fs::create_directories(harness_->home() / "config" / "p2pcp");
    std::ofstream(harness_->home() / "config" / "p2pcp" / "agent.json") << config.dump();
  }
  fs::path defaultKeyFile() const {
    return harness_->home() / "config" / "p2pcp" / "default-key.json";
  }

  std::unique_ptr<AgentHarness> harness_;
  std::map<std::string, std::string> fingerprints_;
};

TEST_F(Keys, ListKeysGivesPagesNoTokenDetailsBelowFullAccess) {
  const json tokens = resultOf(call("listTokens", json::object()));
  ASSERT_FALSE(tokens.empty());
  const std::string serial = tokens[0]["serial"];
  const std::string tokenLabel = tokens[0]["label"];

  const json site = call("listKeys", json::object(), kSitePage);
  ASSERT_EQ(codeOf(site), "OK") << site.dump();
  ASSERT_EQ(site["result"].size(), 4U) << site.dump();
  for (const auto& key : site["result"]) {
    EXPECT_EQ(memberNames(key),
              (std::vector<std::string>{"default", "fingerprint", "label", "type"}))
        << key.dump();
    EXPECT_TRUE(key["default"].is_boolean());
    EXPECT_EQ(key["fingerprint"], fingerprints_.at(key["label"])) << key.dump();
  }
  const std::string text = site.dump();
  EXPECT_EQ(text.find(serial), std::string::npos) << text;
  EXPECT_EQ(text.find(tokenLabel), std::string::npos) << text;

  const json full = call("listKeys", json::object(), kFullPage);
  ASSERT_EQ(codeOf(full), "OK") << full.dump();
  for (const auto& key : full["result"]) {
    EXPECT_EQ(memberNames(key), (std::vector<std::string>{"default", "fingerprint", "label",
                                                          "tokenUri", "type", "uri"}))
        << key.dump();
    EXPECT_NE(key["uri"].get<std::string>().find(serial), std::string::npos) << key.dump();
  }

  // Local programs and the popup: the full entries, plus "default".
  for (const json& meta : {json::object(), kPopup}) {
    const json local = call("listKeys", json::object(), meta);
    ASSERT_EQ(codeOf(local), "OK") << local.dump();
    for (const auto& key : local["result"]) {
      for (const char* member : {"uri", "tokenUri", "id", "spki", "bits", "default"}) {
        EXPECT_TRUE(key.contains(member)) << member << " in " << key.dump();
      }
    }
  }

  // Which tokens a URI matches would tell a site-access page the serial.
  const json probe = call("listKeys", {{"token", "pkcs11:serial=" + serial}}, kSitePage);
  EXPECT_EQ(codeOf(probe), "BAD_REQUEST") << probe.dump();
  EXPECT_EQ(codeOf(call("listKeys", {{"token", "pkcs11:serial=" + serial}}, kFullPage)), "OK");
}

TEST_F(Keys, ListKeysAsksAPageWithoutAccessAndIsRefusedWhenDenied) {
  AgentSetup denying;
  denying.confirm = "no";
  harness_->restart(denying);
  const json r = call("listKeys", json::object(), kNewPage);
  EXPECT_EQ(codeOf(r), "CONSENT_DENIED") << r.dump();
}

TEST_F(Keys, EveryKeyParamTakesAFingerprint) {
  const std::string fp = fingerprint("p256");
  const std::string uri = harness_->keyUri("p256");

  const json byFingerprint = call("getPublicKey", {{"key", fp}});
  ASSERT_EQ(codeOf(byFingerprint), "OK") << byFingerprint.dump();
  EXPECT_EQ(byFingerprint["result"]["spki"],
            resultOf(call("getPublicKey", {{"key", uri}}))["spki"]);
  EXPECT_EQ(byFingerprint["result"]["fingerprint"], fp);

  for (const json& meta : {json::object(), kFullPage}) {
    const json derived =
        call("deriveStorageKey", {{"key", fp}, {"kind", "private"}, {"uri", "/a"}}, meta);
    ASSERT_EQ(codeOf(derived), "OK") << derived.dump();
    EXPECT_EQ(derived["result"]["storageKey"],
              resultOf(call("deriveStorageKey", {{"key", uri}, {"kind", "private"}, {"uri", "/a"}},
                            meta))["storageKey"]);
  }
  EXPECT_EQ(codeOf(call("deriveStorageKey", {{"key", fp}, {"kind", "private"}, {"uri", "/a"}},
                        kSitePage)),
            "OK");

  const json signedBlock = call(
      "signBlock",
      {{"key", fp}, {"uri", "/profile"}, {"kind", "public"}, {"seq", 1}, {"payload", "aGVsbG8="}});
  ASSERT_EQ(codeOf(signedBlock), "OK") << signedBlock.dump();
  EXPECT_EQ(signedBlock["result"]["publicKey"], byFingerprint["result"]["spki"]);

  // Malformed: named as `key`; well formed but unknown: KEY_NOT_FOUND.
  for (const std::string& bad :
       {std::string("p256"), std::string(64, 'A'), fp.substr(1), fp + "0", std::string(64, 'g')}) {
    const json r = call("getPublicKey", {{"key", bad}});
    EXPECT_EQ(codeOf(r), "BAD_REQUEST") << bad << ": " << r.dump();
    EXPECT_NE(r["error"]["message"].get<std::string>().find("key"), std::string::npos) << r.dump();
  }
  EXPECT_EQ(codeOf(call("getPublicKey", {{"key", std::string(64, '0')}})), "KEY_NOT_FOUND");
  EXPECT_EQ(codeOf(call("signBlock", {{"key", std::string(64, '0')},
                                      {"uri", "/profile"},
                                      {"kind", "public"},
                                      {"seq", 1},
                                      {"payload", "aGVsbG8="}})),
            "KEY_NOT_FOUND");
}

// A page below full access never sees a token's label or serial, so it must
// not be able to probe them either: whether `pkcs11:serial=...` finds a key
// (or which error it gets) would tell. It names keys by fingerprint only.
TEST_F(Keys, PagesBelowFullAccessNameKeysByFingerprintOnly) {
  const json tokens = resultOf(call("listTokens", json::object()));
  ASSERT_FALSE(tokens.empty());
  const std::string serial = tokens[0]["serial"];
  const std::string label = tokens[0]["label"];
  const std::vector<std::string> probes = {"pkcs11:serial=" + serial,
                                           "pkcs11:serial=not-" + serial,
                                           "pkcs11:token=" + label + ";object=fixture-p256",
                                           "pkcs11:object=fixture-p256",
                                           harness_->keyUri("p256"),
                                           "pkcs11:"};
  const std::string fp = fingerprint("p256");
  const std::vector<std::pair<std::string, json>> calls = {
      {"getPublicKey", json::object()},
      {"deriveStorageKey", {{"kind", "private"}, {"uri", "/a"}}},
      {"deriveStorageKeys", {{"kind", "public"}, {"uris", {"/a"}}}},
      {"signBlock",
       {{"uri", "https://site.example/a"}, {"kind", "public"}, {"seq", 1}, {"payload", ""}}},
      {"signBlocks",
       {{"blocks", {{{"uri", "/a"}, {"kind", "private"}, {"seq", 1}, {"payload", ""}}}}}},
      {"seal", {{"uri", "/a"}, {"plaintext", "aGk="}}},
      {"sealMany", {{"items", {{{"uri", "/a"}, {"plaintext", "aGk="}}}}}},
      {"signLogin",
       {{"indexServer", "https://index.example"},
        {"nonce", "AAAAAAAAAAAAAAAAAAAAAA=="},
        {"timestamp", 1}}},
  };
  for (const auto& [method, params] : calls) {
    json byFingerprint = params;
    byFingerprint["key"] = fp;
    const json ok = call(method, byFingerprint, kSitePage);
    EXPECT_EQ(codeOf(ok), "OK") << method << ": " << ok.dump();
    for (const auto& probe : probes) {
      json withUri = params;
      withUri["key"] = probe;
      const json r = call(method, withUri, kSitePage);
      EXPECT_EQ(codeOf(r), "BAD_REQUEST") << method << " " << probe << ": " << r.dump();
      // With full access the URIs are the page's to see and use.
      const json full = call(method, withUri, kFullPage);
      EXPECT_NE(codeOf(full), "BAD_REQUEST") << method << " " << probe << ": " << full.dump();
    }
  }
}

// agent.json's defaultKey is a URI naming the token; when it finds no key, a
// page below full access is told so without the URI.
TEST_F(Keys, AMissingConfiguredDefaultKeyIsNotQuotedToPages) {
  writeAgentJson({{"defaultKey", "pkcs11:token=office;serial=4242beef;object=card"}});
  harness_->restart({});
  const json local = call("getPublicKey", json::object());
  ASSERT_EQ(codeOf(local), "KEY_NOT_FOUND") << local.dump();
  for (const std::string method : {"getPublicKey", "deriveStorageKeys"}) {
    const json params =
        method == "getPublicKey" ? json::object() : json{{"kind", "private"}, {"uris", {"/a"}}};
    const json r = call(method, params, kSitePage);
    ASSERT_EQ(codeOf(r), "KEY_NOT_FOUND") << r.dump();
    EXPECT_EQ(r.dump().find("4242beef"), std::string::npos) << r.dump();
    EXPECT_EQ(r.dump().find("office"), std::string::npos) << r.dump();
  }
}

TEST_F(Keys, TheChosenDefaultKeyPersistsAndComesBeforeAgentJson) {
  ASSERT_EQ(defaultKeyUsed(), "KEY_AMBIGUOUS") << "four keys and no default";
  EXPECT_TRUE(markedDefault().empty());

  const json chosen = call("setDefaultKey", {{"key", fingerprint("p256")}});
  ASSERT_EQ(codeOf(chosen), "OK") << chosen.dump();
  EXPECT_EQ(chosen["result"]["defaultKey"]["label"], "fixture-p256");
  EXPECT_EQ(chosen["result"]["defaultKey"]["fingerprint"], fingerprint("p256"));
  EXPECT_EQ(chosen["result"]["defaultKey"]["uri"], harness_->keyUri("p256"));
  EXPECT_EQ(defaultKeyUsed(), fingerprint("p256"));
  EXPECT_EQ(defaultKeyUsed(kSitePage), fingerprint("p256"));
  EXPECT_EQ(markedDefault(), std::vector<std::string>{"fixture-p256"});
  EXPECT_EQ(markedDefault(kSitePage), std::vector<std::string>{"fixture-p256"});

  struct stat info {};
  ASSERT_EQ(::stat(defaultKeyFile().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);

  // agent.json names another key: the person's choice still wins, after a restart.
  writeAgentJson({{"defaultKey", harness_->keyUri("ed25519")}});
  harness_->restart({});
  EXPECT_EQ(defaultKeyUsed(), fingerprint("p256"));
  EXPECT_EQ(markedDefault(), std::vector<std::string>{"fixture-p256"});
  EXPECT_EQ(resultOf(call("status", json::object()))["defaultKey"]["from"], "setDefaultKey");

  // By URI this time; then cleared: agent.json's default applies again.
  const json byUri = call("setDefaultKey", {{"key", harness_->keyUri("rsa2048")}}, kPopup);
  ASSERT_EQ(codeOf(byUri), "OK") << byUri.dump();
  EXPECT_EQ(defaultKeyUsed(), fingerprint("rsa2048"));
  const json cleared = call("setDefaultKey", {{"key", nullptr}});
  ASSERT_EQ(codeOf(cleared), "OK") << cleared.dump();
  EXPECT_TRUE(cleared["result"]["defaultKey"].is_null()) << cleared.dump();
  EXPECT_EQ(defaultKeyUsed(), fingerprint("ed25519"));
  harness_->restart({});
  EXPECT_EQ(defaultKeyUsed(), fingerprint("ed25519"));
  EXPECT_EQ(markedDefault(), std::vector<std::string>{"fixture-ed25519"});
}

TEST_F(Keys, SetDefaultKeyRefusesWhatIsNotExactlyOneKey) {
  EXPECT_EQ(codeOf(call("setDefaultKey", {{"key", "pkcs11:"}})), "KEY_AMBIGUOUS");
  EXPECT_EQ(codeOf(call("setDefaultKey", {{"key", std::string(64, '0')}})), "KEY_NOT_FOUND");
  EXPECT_EQ(codeOf(call("setDefaultKey", {{"key", "nope"}})), "BAD_REQUEST");
  EXPECT_EQ(codeOf(call("setDefaultKey", json::object())), "BAD_REQUEST");
  EXPECT_EQ(codeOf(call("setDefaultKey", {{"key", 7}})), "BAD_REQUEST");
  EXPECT_FALSE(fs::exists(defaultKeyFile()));
  EXPECT_EQ(defaultKeyUsed(), "KEY_AMBIGUOUS");
}

TEST_F(Keys, PagesCannotChooseTheDefaultKey) {
  for (const json& page : {kSitePage, kFullPage}) {
    const json r = call("setDefaultKey", {{"key", fingerprint("p256")}}, page);
    EXPECT_EQ(codeOf(r), "NOT_ALLOWED_BY_POLICY") << r.dump();
  }
  EXPECT_FALSE(fs::exists(defaultKeyFile()));
}

TEST_F(Keys, AStaleDefaultKeyIsNamedNotReplaced) {
  // The chosen key's token is gone (written as the agent writes it).
  std::ofstream(defaultKeyFile())
      << json{{"version", 1},
              {"key",
               {{"fingerprint", std::string(64, 'e')},
                {"label", "card-at-work"},
                {"uri", "pkcs11:token=work;serial=99;object=card-at-work;type=private"}}}}
             .dump();
  writeAgentJson({{"defaultKey", harness_->keyUri("ed25519")}});
  harness_->restart({});
  for (const json& meta : {json::object(), kSitePage}) {
    const json r = call("getPublicKey", json::object(), meta);
    ASSERT_EQ(codeOf(r), "KEY_NOT_FOUND") << r.dump();
    const std::string message = r["error"]["message"];
    EXPECT_NE(message.find("card-at-work"), std::string::npos) << message;
    EXPECT_NE(message.find(std::string(64, 'e')), std::string::npos) << message;
    EXPECT_EQ(r["error"]["data"]["defaultKey"]["label"], "card-at-work") << r.dump();
    EXPECT_EQ(r.dump().find("serial=99"), std::string::npos) << r.dump();
  }
  EXPECT_TRUE(markedDefault().empty());
  // A request that names its key is not affected.
  EXPECT_EQ(codeOf(call("getPublicKey", {{"key", fingerprint("p384")}})), "OK");
}

TEST_F(Keys, ACorruptDefaultKeyFileIsSetAsideNotTrusted) {
  std::ofstream(defaultKeyFile()) << R"({"version": 1, "key": {"fingerprint": "not hex"}})";
  harness_->restart({});
  EXPECT_EQ(defaultKeyUsed(), "KEY_AMBIGUOUS");
  EXPECT_FALSE(fs::exists(defaultKeyFile()));
  EXPECT_TRUE(fs::exists(defaultKeyFile().string() + ".corrupt"));
  EXPECT_EQ(codeOf(call("setDefaultKey", {{"key", fingerprint("p256")}})), "OK");
  EXPECT_EQ(defaultKeyUsed(), fingerprint("p256"));
}

std::vector<std::string> helloMethods(const AgentHarness& harness, const json& meta) {
  const json r = tryCall(harness, "hello", json::object(), meta);
  return r.contains("result") ? r["result"]["methods"].get<std::vector<std::string>>()
                              : std::vector<std::string>{codeOf(r)};
}

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST_F(Keys, HelloListsWhatAPageMayCallNow) {
  EXPECT_EQ(helloMethods(*harness_, kNewPage),
            (std::vector<std::string>{"hello", "subscribe", "requestAccess"}));
  const std::vector<std::string> siteOps{
      "hello",     "subscribe", "requestAccess", "getPublicKey", "deriveStorageKey",
      "signBlock", "signLogin", "seal",          "open",         "listKeys"};
  // Site access: every p2pcp operation (the bulk forms too, whatever the
  // table adds), nothing that needs full access or is not for pages.
  const auto site = helloMethods(*harness_, kSitePage);
  for (const auto& name : siteOps) {
    EXPECT_TRUE(has(site, name)) << name;
  }
  const auto full = helloMethods(*harness_, kFullPage);
  EXPECT_TRUE(has(full, "listKeys"));
  EXPECT_FALSE(has(full, "sign")) << "raw signing is off by default";
  for (const auto* listed : {&site, &full}) {
    for (const auto& name : {"sign", "status", "listTokens", "setDefaultKey", "grantConsent",
                             "revokeConsent", "listConsents", "login", "lock", "generateKey"}) {
      EXPECT_FALSE(has(*listed, name)) << name;
    }
  }
  EXPECT_EQ(site, full) << "without raw signing, full access adds no method";
  // Local programs: what they may call, as before.
  const auto local = helloMethods(*harness_, json::object());
  for (const auto& name : {"status", "listKeys", "setDefaultKey", "sign", "grantConsent"}) {
    EXPECT_TRUE(has(local, name)) << name;
  }
  // A bare hello (answered from text made once) says what a hello with params
  // (the dispatcher's path) says.
  for (const json& meta : {json::object(), kPopup}) {
    const json bare = call("hello", json::object(), meta);
    ASSERT_EQ(codeOf(bare), "OK") << bare.dump();
    EXPECT_EQ(bare["result"], resultOf(call("hello", {{"client", "keys_test"}}, meta)));
    EXPECT_EQ(codeOf(call("hello", {{"protocol", 2}}, meta)), "UNSUPPORTED");
  }
  // The id comes back as sent, escaped as JSON.
  auto agent = harness_->connect();
  agent.send(R"({"jsonrpc":"2.0","id":"a \"quoted\" id","method":"hello"})");
  const auto raw = agent.receive();
  ASSERT_TRUE(raw.has_value());
  const json reply = json::parse(*raw);
  EXPECT_EQ(reply["id"], "a \"quoted\" id") << *raw;
  EXPECT_EQ(reply["result"]["protocol"], 1) << *raw;
  const auto popup = helloMethods(*harness_, kPopup);
  EXPECT_TRUE(has(popup, "setDefaultKey"));
  EXPECT_FALSE(has(popup, "signBlock"));

  AgentSetup rawSigning;
  rawSigning.policy = json{{"rawSigning", true}};
  harness_->restart(rawSigning);
  EXPECT_TRUE(has(helloMethods(*harness_, kFullPage), "sign"));
  EXPECT_FALSE(has(helloMethods(*harness_, kSitePage), "sign"));
  // What hello lists, the page can call.
  const json signed_ =
      call("sign", {{"key", fingerprint("ed25519")}, {"message", "aGk="}}, kFullPage);
  EXPECT_EQ(codeOf(signed_), "OK") << signed_.dump();
}

TEST_F(Keys, TheCliShowsSetsAndClearsTheDefaultKey) {
  const auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), P2PCP_CLI_PROGRAM);
    return harness_->run(args);
  };
  const auto none = cli({"default-key"});
  EXPECT_EQ(none.exitCode, 0) << none.output;
  EXPECT_NE(none.output.find("no default key"), std::string::npos) << none.output;
  const auto set = cli({"default-key", "set", fingerprint("p384")});
  ASSERT_EQ(set.exitCode, 0) << set.output;
  EXPECT_NE(set.output.find("fixture-p384"), std::string::npos) << set.output;
  const auto shown = cli({"default-key", "--json"});
  ASSERT_EQ(shown.exitCode, 0) << shown.output;
  EXPECT_EQ(json::parse(shown.output)["defaultKey"]["fingerprint"], fingerprint("p384"));
  const auto keys = cli({"keys"});
  EXPECT_NE(keys.output.find("fixture-p384 (ec-p384) [default]"), std::string::npos) << keys.output;
  const auto pubkey = cli({"pubkey", "--json"});
  ASSERT_EQ(pubkey.exitCode, 0) << pubkey.output;
  EXPECT_EQ(json::parse(pubkey.output)["fingerprint"], fingerprint("p384"));
  EXPECT_EQ(cli({"default-key", "set", "pkcs11:"}).exitCode, 1) << "several keys match";
  ASSERT_EQ(cli({"default-key", "clear"}).exitCode, 0);
  EXPECT_EQ(cli({"pubkey"}).exitCode, 1) << "four keys and no default: KEY_AMBIGUOUS";
}

}  // namespace
}  // namespace p2pcp::testing
