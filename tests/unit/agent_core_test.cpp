// SPDX-License-Identifier: Apache-2.0
// The agent's request parsing, parameter checks, error codes, config and consent
// store, without a token.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/consent_store.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/pairing_store.hpp"
#include "p2pcp/agent/pairings.hpp"
#include "p2pcp/agent/params.hpp"
#include "p2pcp/agent/prompts.hpp"

namespace p2pcp::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string codeOf(const std::variant<Request, json>& parsed) {
  if (std::holds_alternative<Request>(parsed)) {
    return "OK";
  }
  return std::get<json>(parsed)["error"]["data"]["error"].get<std::string>();
}

TEST(ParseRequest, AcceptsAWellFormedRequestWithCallerMetadata) {
  const auto parsed = parseRequest(
      R"({"jsonrpc":"2.0","id":"x","method":"signLogin","params":{"a":1},"origin":"https://app.example","tty":"/dev/pts/3"})");
  ASSERT_TRUE(std::holds_alternative<Request>(parsed));
  const auto& request = std::get<Request>(parsed);
  EXPECT_EQ(request.id, "x");
  EXPECT_EQ(request.method, "signLogin");
  EXPECT_EQ(request.caller.origin, "https://app.example");
  EXPECT_EQ(request.caller.ttyName, "/dev/pts/3");
  EXPECT_TRUE(request.caller.isPage());
}

TEST(ParseRequest, MarksTheCallerKind) {
  const auto local =
      std::get<Request>(parseRequest(R"({"jsonrpc":"2.0","id":1,"method":"hello"})"));
  EXPECT_EQ(local.caller.kind, CallerKind::Local);
  const auto popup = std::get<Request>(parseRequest(
      R"({"jsonrpc":"2.0","id":1,"method":"hello","extension":"hpncikinbmmcogikfdckffepdimmcaaa"})"));
  EXPECT_EQ(popup.caller.kind, CallerKind::Extension);
  const auto page = std::get<Request>(parseRequest(
      R"({"jsonrpc":"2.0","id":1,"method":"hello","extension":"key-agent@p2pcp.dev","origin":"https://a.example"})"));
  EXPECT_EQ(page.caller.kind, CallerKind::Page);
  EXPECT_EQ(
      codeOf(parseRequest(R"({"jsonrpc":"2.0","id":1,"method":"hello","extension":"not an id"})")),
      "BAD_REQUEST");
  // An extension's own origin is not a page origin.
  EXPECT_EQ(
      codeOf(parseRequest(
          R"({"jsonrpc":"2.0","id":1,"method":"hello","origin":"chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa"})")),
      "BAD_REQUEST");
}

TEST(ParseRequest, RefusesDeepNestingAndDuplicateMembers) {
  const std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"hello","params":{"a":)" +
                           std::string(40000, '[') + std::string(40000, ']') + "}}";
  EXPECT_EQ(codeOf(parseRequest(deep)), "BAD_REQUEST");
  // The host and the agent must never read a different origin out of one message.
  EXPECT_EQ(
      codeOf(parseRequest(
          R"({"jsonrpc":"2.0","id":1,"method":"hello","origin":"https://a.example","origin":"https://b.example"})")),
      "BAD_REQUEST");
}

TEST(CallerTable, EveryMethodHasAHandlerAndPagesGetOnlyTheP2pcpOperations) {
  for (const auto& method : methodAccessTable()) {
    EXPECT_NE(findHandler(method.name), nullptr) << method.name;
  }
  EXPECT_EQ(methodsFor(CallerKind::Page),
            (std::vector<std::string>{"hello", "subscribe", "requestAccess", "getPublicKey",
                                      "deriveStorageKey", "signBlock", "signLogin", "seal", "open",
                                      "deriveStorageKeys", "signBlocks", "sealMany", "openMany",
                                      "sign", "listKeys"}));
  EXPECT_FALSE(mayEverCall(CallerKind::Page, *findMethodAccess("setDefaultKey")));
  EXPECT_TRUE(mayEverCall(CallerKind::Extension, *findMethodAccess("setDefaultKey")));
  // hello's list for a page: what it may call with the grade it holds now.
  EXPECT_EQ(methodsForPage(Grade::None, true),
            (std::vector<std::string>{"hello", "subscribe", "requestAccess"}));
  const auto site = methodsForPage(Grade::Site, true);
  EXPECT_EQ(std::count(site.begin(), site.end(), "sign"), 0);
  EXPECT_EQ(std::count(site.begin(), site.end(), "listKeys"), 1);
  const auto full = methodsForPage(Grade::Full, false);
  EXPECT_EQ(std::count(full.begin(), full.end(), "sign"), 0);
  EXPECT_EQ(methodsForPage(Grade::Full, true), methodsFor(CallerKind::Page));
  for (const char* localOnly : {"generateKey", "grantConsent", "login"}) {
    const auto* method = findMethodAccess(localOnly);
    ASSERT_NE(method, nullptr);
    EXPECT_FALSE(mayEverCall(CallerKind::Page, *method)) << localOnly;
    EXPECT_FALSE(mayEverCall(CallerKind::Extension, *method)) << localOnly;
  }
  EXPECT_EQ(findMethodAccess("sign")->page, PageRule::Full);
}

TEST(ParseRequest, RefusesWhatIsNotARequest) {
  EXPECT_EQ(codeOf(parseRequest("")), "PARSE_ERROR");
  EXPECT_EQ(codeOf(parseRequest("nul")), "PARSE_ERROR");
  EXPECT_EQ(codeOf(parseRequest("\"hello\"")), "BAD_REQUEST");
  EXPECT_EQ(codeOf(parseRequest(R"([{"jsonrpc":"2.0","id":1,"method":"hello"}])")), "BAD_REQUEST");
  EXPECT_EQ(codeOf(parseRequest(R"({"jsonrpc":"2.0","id":1.5,"method":"hello"})")), "BAD_REQUEST");
  EXPECT_EQ(codeOf(parseRequest(R"({"jsonrpc":"2.0","id":1,"method":"hello","origin":7})")),
            "BAD_REQUEST");
  EXPECT_EQ(codeOf(parseRequest(
                R"({"jsonrpc":"2.0","id":1,"method":"hello","origin":"https://a.example/path"})")),
            "BAD_REQUEST");
  EXPECT_EQ(codeOf(parseRequest(
                R"({"jsonrpc":"2.0","id":1,"method":"hello","origin":"https://a.example"})")),
            "OK");
  // The id of a bad request is echoed when it could be read, so the client can match it.
  const auto bad = std::get<json>(parseRequest(R"({"jsonrpc":"2.0","id":9,"method":false})"));
  EXPECT_EQ(bad["id"], 9);
  EXPECT_EQ(bad["error"]["code"], -32600);
}

TEST(Origins, OnlyBrowserOriginsAreValid) {
  for (const char* good :
       {"https://app.example", "http://127.0.0.1:8080", "chrome-extension://abcdefghijklmnop",
        "moz-extension://1234-abcd", "https://[::1]:443"}) {
    EXPECT_TRUE(isValidOrigin(good)) << good;
  }
  for (const char* bad :
       {"", "null", "file:///etc/passwd", "https://a.example/", "https://user@a.example",
        "https://a.example\nInjected: yes", "javascript:alert(1)", "https://a example"}) {
    EXPECT_FALSE(isValidOrigin(bad)) << bad;
  }
}

TEST(Params, StrictTypesAndNames) {
  const json params = {{"uri", "/notes"}, {"seq", 5},      {"big", "18446744073709551615"},
                       {"hex", "00ff"},   {"b64", "AAE="}, {"neg", -1},
                       {"float", 1.5}};
  const Params p(params, {"uri", "seq", "big", "hex", "b64", "neg", "float"});
  EXPECT_EQ(p.string("uri"), "/notes");
  EXPECT_EQ(p.u64("seq"), 5U);
  EXPECT_EQ(p.u64("big"), UINT64_MAX);
  EXPECT_EQ(p.hex("hex", 2), (Bytes{0x00, 0xff}));
  EXPECT_EQ(p.base64("b64"), (Bytes{0x00, 0x01}));
  EXPECT_THROW((void)p.u64("neg"), AgentError);
  EXPECT_THROW((void)p.u64("float"), AgentError);
  EXPECT_THROW((void)p.u64("uri"), AgentError);
  EXPECT_THROW((void)p.hex("hex", 3), AgentError);
  EXPECT_THROW((void)p.string("seq"), AgentError);
  EXPECT_THROW((void)p.string("missing"), AgentError);
  EXPECT_THROW((void)p.string("uri", 3), AgentError);
  EXPECT_THROW((void)p.base64("b64", 3), AgentError);
  EXPECT_THROW(Params(params, {"uri"}), AgentError) << "unknown names are refused";
  EXPECT_THROW(Params(json::array(), {}), AgentError);
  EXPECT_NO_THROW(Params(json(), {}));
}

TEST(Errors, StableNamesAndNumbers) {
  EXPECT_EQ(errorCodeNumber(ErrorCode::ParseError), -32700);
  EXPECT_EQ(errorCodeNumber(ErrorCode::BadRequest), -32600);
  EXPECT_EQ(errorCodeNumber(ErrorCode::MethodNotFound), -32601);
  EXPECT_EQ(errorCodeNumber(ErrorCode::Internal), -32603);
  EXPECT_EQ(errorCodeNumber(ErrorCode::PinIncorrect), -32004);
  const json object =
      errorObject(AgentError(ErrorCode::PinIncorrect, "wrong", {{"pinState", "finalTry"}}));
  EXPECT_EQ(object["data"]["error"], "PIN_INCORRECT");
  EXPECT_EQ(object["data"]["pinState"], "finalTry");
  EXPECT_EQ(object["message"], "wrong");
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "p2pcp-unit.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

using PolicyFile = TempDir;

TEST_F(PolicyFile, DefaultsWhenAbsentAndStrictWhenPresent) {
  const Policy defaults = Policy::load(dir_ / "absent.json");
  EXPECT_FALSE(defaults.rawSigning);
  EXPECT_TRUE(defaults.keyGeneration);
  EXPECT_EQ(defaults.pinCacheIdle.count(), 600);

  write(
      "p.json",
      R"({"rawSigning": true, "pinCacheSeconds": 30, "origins": {"block": ["https://x.example"]}})");
  const Policy policy = Policy::load(dir_ / "p.json");
  EXPECT_TRUE(policy.rawSigning);
  EXPECT_EQ(policy.pinCacheIdle.count(), 30);
  ASSERT_EQ(policy.origins.block.size(), 1U);
  EXPECT_EQ(policy.origins.block[0].text(), "https://x.example");

  for (const char* bad :
       {R"({"rawSigning": "true"})", R"({"unknown": 1})", R"({"origins": {"alow": []}})",
        R"({"pinCacheSeconds": -5})", R"([])", "{"}) {
    write("bad.json", bad);
    EXPECT_THROW(Policy::load(dir_ / "bad.json"), std::runtime_error) << bad;
  }
}

using Consents = TempDir;

TEST_F(Consents, GradesDenialsAndSpacesPersistInAPrivateFile) {
  const fs::path file = dir_ / "p2pcp" / "consents.json";
  {
    ConsentStore store(file);
    EXPECT_FALSE(store.find("https://a.example"));
    store.grant("https://a.example", Grade::Site);
    store.grant("https://b.example", Grade::Full);
    store.grant("https://www.a.example", Grade::Site, "https://a.example");
    store.grant("https://c.example", Grade::Site);
    EXPECT_TRUE(store.revoke("https://c.example"));
    EXPECT_FALSE(store.revoke("https://c.example"));
    store.deny("https://evil.example", Grade::Site, std::chrono::hours(1));
    store.deny("https://a.example", Grade::Full, std::chrono::hours(1));
    store.deny("https://gone.example", Grade::Site, std::chrono::seconds(0));
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0600U);
  const ConsentStore reloaded(file);
  ASSERT_TRUE(reloaded.find("https://a.example"));
  EXPECT_EQ(reloaded.find("https://a.example")->grade, Grade::Site);
  EXPECT_EQ(reloaded.find("https://b.example")->grade, Grade::Full);
  EXPECT_EQ(reloaded.find("https://www.a.example")->space, "https://a.example");
  EXPECT_FALSE(reloaded.find("https://c.example"));
  EXPECT_EQ(reloaded.list().size(), 3U);
  // A denied site access covers every request; a denied full access only full access.
  EXPECT_TRUE(reloaded.denialCovering("https://evil.example", Grade::Site));
  EXPECT_TRUE(reloaded.denialCovering("https://evil.example", Grade::Full));
  EXPECT_FALSE(reloaded.denialCovering("https://a.example", Grade::Site));
  EXPECT_TRUE(reloaded.denialCovering("https://a.example", Grade::Full));
  EXPECT_FALSE(reloaded.denialCovering("https://gone.example", Grade::Site)) << "expired";
  EXPECT_EQ(reloaded.denials().size(), 2U);
}

TEST_F(Consents, GrantingForgetsADenialAndRevokingForgetsBoth) {
  ConsentStore store(dir_ / "consents.json");
  store.deny("https://a.example", Grade::Site, std::chrono::hours(1));
  store.grant("https://a.example", Grade::Site);
  EXPECT_FALSE(store.denialCovering("https://a.example", Grade::Site));
  store.deny("https://b.example", Grade::Site, std::chrono::hours(1));
  EXPECT_TRUE(store.revoke("https://b.example")) << "a denial alone is something to revoke";
  EXPECT_FALSE(store.denialCovering("https://b.example", Grade::Site));
}

TEST_F(Consents, ASiteGrantKeepsADeniedFullAccess) {
  ConsentStore store(dir_ / "consents.json");
  store.deny("https://a.example", Grade::Full, std::chrono::hours(1));
  store.grant("https://a.example", Grade::Site);
  EXPECT_TRUE(store.denialCovering("https://a.example", Grade::Full))
      << "a page cannot launder a full-access denial through a site grant";
  store.grant("https://a.example", Grade::Full);
  EXPECT_FALSE(store.denialCovering("https://a.example", Grade::Full));
}

TEST_F(Consents, DenialsAreBounded) {
  ConsentStore store(dir_ / "consents.json");
  for (std::size_t i = 0; i < ConsentStore::kMaxDenials + 20; ++i) {
    store.deny("https://r" + std::to_string(i) + ".example", Grade::Site, std::chrono::hours(1));
  }
  EXPECT_EQ(store.denials().size(), ConsentStore::kMaxDenials);
}

TEST_F(Consents, AFifoOrAHugeFileIsMovedAsideNotReadForever) {
  ASSERT_EQ(::mkfifo((dir_ / "consents.json").c_str(), 0600), 0);
  const ConsentStore fromFifo(dir_ / "consents.json");  // must not block
  EXPECT_TRUE(fromFifo.list().empty());
  EXPECT_TRUE(fs::exists(dir_ / "consents.json.corrupt"));
  fs::create_symlink("/dev/zero", dir_ / "consents.json");
  const ConsentStore fromDevice(dir_ / "consents.json");
  EXPECT_TRUE(fromDevice.list().empty());
  EXPECT_TRUE(fs::exists(dir_ / "consents.json.corrupt.1")) << "the first copy is kept";
}

TEST_F(Consents, VersionOneFilesBecomeSiteAccess) {
  write("consents.json", R"({"version":1,"origins":{"https://a.example":{"grantedAt":5}}})");
  const ConsentStore store(dir_ / "consents.json");
  ASSERT_TRUE(store.find("https://a.example"));
  EXPECT_EQ(store.find("https://a.example")->grade, Grade::Site);
  EXPECT_EQ(store.find("https://a.example")->grantedAt, 5);
}

TEST_F(Consents, DuplicateKeysOrABadOriginMoveTheFileAside) {
  for (
      const char* text :
      {R"({"version":2,"origins":{"https://a.example":{"access":"site","grantedAt":1},"https://a.example":{"access":"full","grantedAt":2}}})",
       R"({"version":2,"origins":{"https://A.example/":{"access":"site","grantedAt":1}}})",
       R"({"version":2,"origins":{"https://a.example":{"access":"root","grantedAt":1}}})"}) {
    write("consents.json", text);
    const ConsentStore store(dir_ / "consents.json");
    EXPECT_TRUE(store.list().empty()) << text;
    EXPECT_TRUE(fs::exists(dir_ / "consents.json.corrupt")) << text;
    fs::remove(dir_ / "consents.json.corrupt");
  }
}

TEST_F(Consents, CorruptFileIsMovedAsideNotOverwritten) {
  write("consents.json", "{ this is not json");
  const ConsentStore store(dir_ / "consents.json");
  EXPECT_TRUE(store.list().empty());
  std::ifstream aside(dir_ / "consents.json.corrupt");
  std::string text((std::istreambuf_iterator<char>(aside)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "{ this is not json");
}

using PairingFile = TempDir;

TEST_F(PairingFile, PairingsAndRefusalsPersistInAPrivateFile) {
  const fs::path file = dir_ / "p2pcp" / "pairings.json";
  {
    PairingStore store(file);
    EXPECT_FALSE(store.isPaired("https://a.example"));
    store.record("https://a.example", PairingState::Paired);
    store.record("https://b.example", PairingState::Refused);
    store.record("https://c.example", PairingState::Paired);
    EXPECT_TRUE(store.forget("https://c.example"));
    EXPECT_FALSE(store.forget("https://c.example"));
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0600U);
  const PairingStore reloaded(file);
  EXPECT_TRUE(reloaded.isPaired("https://a.example"));
  EXPECT_FALSE(reloaded.isPaired("https://b.example")) << "a refusal is not a pairing";
  ASSERT_TRUE(reloaded.find("https://b.example"));
  EXPECT_EQ(reloaded.find("https://b.example")->state, PairingState::Refused);
  EXPECT_EQ(reloaded.list().size(), 2U);
}

TEST_F(PairingFile, RefusalsAreBoundedAndPairingsKept) {
  PairingStore store(dir_ / "pairings.json");
  store.record("https://kept.example", PairingState::Paired);
  for (std::size_t i = 0; i < PairingStore::kMaxRefusals + 5; ++i) {
    store.record("https://r" + std::to_string(i) + ".example", PairingState::Refused);
  }
  EXPECT_EQ(store.list().size(), PairingStore::kMaxRefusals + 1);
  EXPECT_TRUE(store.isPaired("https://kept.example"));
}

TEST_F(PairingFile, AnUnreadableFileIsMovedAside) {
  for (
      const char* text :
      {"{ not json", R"({"version":2,"pairings":[]})",
       R"({"version":1,"pairings":[{"origin":"https://A.example/","state":"paired","since":1}]})",
       R"({"version":1,"pairings":[{"origin":"https://a.example","state":"maybe","since":1}]})",
       R"({"version":1,"pairings":[{"origin":"https://a.example","state":"paired","since":1},{"origin":"https://a.example","state":"refused","since":2}]})"}) {
    write("pairings.json", text);
    const PairingStore store(dir_ / "pairings.json");
    EXPECT_TRUE(store.list().empty()) << text;
    EXPECT_TRUE(fs::exists(dir_ / "pairings.json.corrupt")) << text;
    fs::remove(dir_ / "pairings.json.corrupt");
  }
}

TEST(Pairing, CodesAreSixDigitsInTwoGroupsAndVary) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string code = Pairings::drawCode();
    ASSERT_EQ(code.size(), 7U) << code;
    for (std::size_t j = 0; j < code.size(); ++j) {
      EXPECT_TRUE(j == 3 ? code[j] == '-' : code[j] >= '0' && code[j] <= '9') << code;
    }
    seen.insert(code);
  }
  EXPECT_GT(seen.size(), 190U);
}

TEST(Pairing, OnlyFrontDoorPagesMayPairAndTheDialogNamesOriginAndCode) {
  const auto* pair = findMethodAccess("pair");
  ASSERT_NE(pair, nullptr);
  EXPECT_FALSE(mayEverCall(CallerKind::Page, *pair)) << "the extension path";
  EXPECT_TRUE(mayEverCall(CallerKind::Page, *pair, true));
  EXPECT_FALSE(mayEverCall(CallerKind::Local, *pair));
  EXPECT_FALSE(mayEverCall(CallerKind::Extension, *pair));
  const auto methods = methodsForPage(Grade::None, true, true);
  EXPECT_EQ(std::count(methods.begin(), methods.end(), "pair"), 1);
  for (const char* management : {"listPairings", "revokePairing"}) {
    const auto* method = findMethodAccess(management);
    ASSERT_NE(method, nullptr) << management;
    EXPECT_TRUE(mayEverCall(CallerKind::Local, *method)) << management;
    EXPECT_TRUE(mayEverCall(CallerKind::Extension, *method)) << management;
    EXPECT_FALSE(mayEverCall(CallerKind::Page, *method, true)) << management;
  }
  EXPECT_EQ(errorCodeName(ErrorCode::NotPaired), "NOT_PAIRED");
  EXPECT_EQ(errorCodeNumber(ErrorCode::NotPaired), -32021);
  const std::string text = pairingDescription("http://app.example", "123-456");
  EXPECT_NE(text.find("The page http://app.example asks"), std::string::npos) << text;
  EXPECT_NE(text.find("shows the code 123-456"), std::string::npos) << text;
  EXPECT_NE(text.find("does not use https"), std::string::npos) << text;
}

TEST(Prompts, PinPromptNamesTokenCallerAndRetryState) {
  pkcs11::TokenDescription token;
  token.label = "My Card";
  Caller page;
  page.kind = CallerKind::Page;
  page.origin = "https://app.example";
  const std::string text = pinDescription(page, token, "log in");
  EXPECT_NE(text.find("My Card"), std::string::npos);
  EXPECT_NE(text.find("https://app.example"), std::string::npos);
  EXPECT_FALSE(pinWarning(pkcs11::PinState::Ok));
  EXPECT_TRUE(pinWarning(pkcs11::PinState::FinalTry));
  EXPECT_TRUE(pinWarning(pkcs11::PinState::CountLow));
}

}  // namespace
}  // namespace p2pcp::agent
