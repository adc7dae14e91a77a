// SPDX-License-Identifier: Apache-2.0
// Consent grades and key spaces on a real token: a page with site access works
// in a space of its own and cannot reach the person's other data; full access
// is granted only on an explicit request (or by policy or the person); pages
// cannot make dialogs reappear in a loop; an empty PIN is a cancel.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "agent_harness.hpp"
#include "dos_kit.hpp"
#include "p2pcp/common/encoding.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;

const json kPageA = {{"origin", "https://a.example"}};
const json kPageB = {{"origin", "https://b.example"}};

json tryCall(client::AgentClient& agent, const std::string& method, const json& params,
             const json& meta = json::object()) {
  try {
    return {{"result", agent.call(method, params, meta)}};
  } catch (const client::AgentCallError& e) {
    return {{"error", e.error()}};
  }
}

std::string codeOf(const json& outcome) {
  return outcome.contains("error") ? outcome["error"]["data"]["error"].get<std::string>() : "OK";
}

// A member of a call's result, or null when the call failed or the member is missing
// (so a test against an agent without the feature fails instead of aborting).
json resultOf(const json& outcome, const std::string& member) {
  if (!outcome.contains("result") || !outcome["result"].is_object()) {
    return nullptr;
  }
  return outcome["result"].value(member, json());
}

#define SKIP_WITHOUT_SOFTHSM()                              \
  if (auto missing = AgentHarness::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                               \
  }

class Grades : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_SOFTHSM();
    harness_ = std::make_unique<AgentHarness>(setup());
    key_ = harness_->keyFingerprint("ed25519");  // pages name keys so
  }
  virtual AgentSetup setup() { return {}; }
  json call(const std::string& method, json params, const json& meta = json::object()) {
    params["key"] = key_;
    auto agent = harness_->connect();
    return tryCall(agent, method, params, meta);
  }
  std::string privateKey(const std::string& uri, const json& meta, const json& extra = {}) {
    json params = {{"kind", "private"}, {"uri", uri}};
    params.update(extra.is_object() ? extra : json::object());
    const json r = call("deriveStorageKey", params, meta);
    return r.contains("result") ? r["result"].value("storageKey", "?") : codeOf(r);
  }
  std::unique_ptr<AgentHarness> harness_;
  std::string key_;
};

TEST_F(Grades, EachSiteHasAPrivateSpaceOfItsOwn) {
  const std::string full = privateKey("/notes", json::object());
  const std::string a = privateKey("/notes", kPageA);
  const std::string b = privateKey("/notes", kPageB);
  ASSERT_EQ(a.size(), 64U) << a;
  ASSERT_EQ(b.size(), 64U) << b;
  EXPECT_NE(a, full) << "a site with ordinary consent must not derive the person's own keys";
  EXPECT_NE(a, b) << "two sites must not share private storage keys";
  // The person reaches a site's space from the CLI by naming it.
  EXPECT_EQ(privateKey("/notes", json::object(), {{"space", "https://a.example"}}), a);
  EXPECT_EQ(
      resultOf(call("deriveStorageKey", {{"kind", "private"}, {"uri", "/notes"}}, kPageA), "space"),
      "https://a.example");
  // A page cannot pick another space.
  EXPECT_EQ(privateKey("/notes", kPageA, {{"space", "https://b.example"}}),
            "NOT_ALLOWED_BY_POLICY");
  // Public storage keys are public: the same everywhere.
  const json pub = {{"kind", "public"}, {"uri", "/profile"}};
  EXPECT_EQ(resultOf(call("deriveStorageKey", pub, kPageA), "storageKey"),
            resultOf(call("deriveStorageKey", pub), "storageKey"));
}

TEST_F(Grades, SealedDataOpensOnlyInItsOwnSpace) {
  const std::string plaintext = toBase64(asBytes("the person's diary"));
  const json sealed = call("seal", {{"uri", "/diary"}, {"plaintext", plaintext}});
  ASSERT_EQ(codeOf(sealed), "OK");
  const json box = {{"uri", "/diary"}, {"sealed", resultOf(sealed, "sealed")}};
  EXPECT_EQ(codeOf(call("open", box, kPageA)), "OPEN_FAILED")
      << "a site cannot open the person's own sealed data";
  const json sealedByA = call("seal", {{"uri", "/diary"}, {"plaintext", plaintext}}, kPageA);
  ASSERT_EQ(codeOf(sealedByA), "OK");
  const json boxA = {{"uri", "/diary"}, {"sealed", resultOf(sealedByA, "sealed")}};
  EXPECT_EQ(codeOf(call("open", boxA, kPageB)), "OPEN_FAILED") << "nor another site's";
  EXPECT_EQ(resultOf(call("open", boxA, kPageA), "plaintext"), plaintext);
  json inSpaceA = boxA;
  inSpaceA["space"] = "https://a.example";
  EXPECT_EQ(resultOf(call("open", inSpaceA), "plaintext"), plaintext);
}

TEST_F(Grades, ASiteSignsBlocksOnlyInItsOwnSpace) {
  const json block = {{"seq", 1}, {"payload", toBase64(asBytes("block"))}};
  const auto sign = [&](const json& extra, const json& meta) {
    json params = block;
    params.update(extra);
    return call("signBlock", params, meta);
  };
  const std::string profile =
      resultOf(call("deriveStorageKey", {{"kind", "public"}, {"uri", "/profile"}}), "storageKey");
  // Not the person's profile, by storage key or by uri, and no bare storage keys at all.
  EXPECT_EQ(codeOf(sign({{"storageKey", profile}}, kPageA)), "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(codeOf(sign({{"uri", "/profile"}, {"kind", "public"}}, kPageA)),
            "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(codeOf(sign({{"uri", "https://b.example/scores"}, {"kind", "public"}}, kPageA)),
            "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(codeOf(sign({{"uri", "https://a.example.evil/x"}, {"kind", "public"}}, kPageA)),
            "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(codeOf(sign({{"storageKey", std::string(64, 'a')}, {"private", "/notes"}}, kPageA)),
            "NOT_ALLOWED_BY_POLICY");
  // Under its own origin, yes: the agent computes the storage key itself.
  const json own = sign({{"uri", "https://a.example/scores"}, {"kind", "public"}}, kPageA);
  ASSERT_EQ(codeOf(own), "OK") << own.dump();
  EXPECT_EQ(
      resultOf(own, "storageKey"),
      resultOf(call("deriveStorageKey", {{"kind", "public"}, {"uri", "https://a.example/scores"}}),
               "storageKey"));
  // Private blocks: signed by a write key of the site's space, not the person's.
  const json privateA = sign({{"uri", "/notes"}, {"kind", "private"}}, kPageA);
  const json privateB = sign({{"uri", "/notes"}, {"kind", "private"}}, kPageB);
  const json privateFull = sign({{"uri", "/notes"}, {"kind", "private"}}, json::object());
  ASSERT_EQ(codeOf(privateA), "OK") << privateA.dump();
  EXPECT_EQ(resultOf(privateA, "algorithm"), "ed25519");
  EXPECT_NE(resultOf(privateA, "publicKey"), resultOf(privateB, "publicKey"));
  EXPECT_NE(resultOf(privateA, "publicKey"), resultOf(privateFull, "publicKey"));
  EXPECT_EQ(resultOf(privateA, "storageKey"), privateKey("/notes", kPageA));
  // Raw signing is never a site's, whatever the policy says.
  EXPECT_EQ(codeOf(call("sign", {{"message", toBase64(asBytes("x"))}}, kPageA)),
            "NOT_ALLOWED_BY_POLICY");
}

TEST_F(Grades, FullAccessOnlyOnAnExplicitRequestWithItsOwnWords) {
  const std::string full = privateKey("/notes", json::object());
  EXPECT_EQ(codeOf(call("deriveStorageKey", {{"kind", "private"}, {"uri", "/notes"}}, kPageA)),
            "OK");
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1) << "site access was asked for";
  const json granted = call("requestAccess", {{"access", "full"}}, kPageA);
  ASSERT_EQ(codeOf(granted), "BAD_REQUEST") << "requestAccess takes no key";
  auto agent = harness_->connect();
  const json result = tryCall(agent, "requestAccess", {{"access", "full"}}, kPageA);
  ASSERT_EQ(codeOf(result), "OK") << result.dump();
  EXPECT_EQ(resultOf(result, "access"), "full");
  EXPECT_EQ(resultOf(result, "space"), "full");
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 2);
  std::string words;
  for (const auto& line : harness_->pinentryLog()) {
    if (line.value("cmd", "") == "SETDESC") {
      words = line.value("arg", "");
    }
  }
  EXPECT_NE(words.find("FULL ACCESS"), std::string::npos) << words;
  EXPECT_NE(words.find("https://a.example"), std::string::npos) << words;
  EXPECT_EQ(privateKey("/notes", kPageA), full) << "full access is the person's whole space";
  EXPECT_EQ(
      codeOf(call("signBlock", {{"storageKey", std::string(64, 'b')}, {"seq", 1}, {"payload", ""}},
                  kPageA)),
      "OK");
  // Asking again does not open another dialog; the grade is listed and revocable.
  EXPECT_EQ(resultOf(tryCall(agent, "requestAccess", {{"access", "site"}}, kPageA), "access"),
            "full");
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 2);
  EXPECT_EQ(agent.call("listConsents", json::object())[0].value("access", ""), "full");
  agent.call("revokeConsent", {{"origin", "https://a.example"}});
  EXPECT_EQ(codeOf(tryCall(
                agent, "signBlock",
                {{"key", key_}, {"storageKey", std::string(64, 'b')}, {"seq", 1}, {"payload", ""}},
                kPageA)),
            "NOT_ALLOWED_BY_POLICY")
      << "after revocation the page gets site access at most";
}

class GradesDenied : public Grades {
  AgentSetup setup() override {
    AgentSetup s;
    s.confirm = "no";
    return s;
  }
};

TEST_F(GradesDenied, ADeniedFullAccessIsRememberedAndNeverAskedImplicitly) {
  auto agent = harness_->connect();
  agent.call("grantConsent", {{"origin", "https://a.example"}, {"access", "site"}});
  const json denied = tryCall(agent, "requestAccess", {{"access", "full"}}, kPageA);
  EXPECT_EQ(codeOf(denied), "CONSENT_DENIED");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(codeOf(tryCall(agent, "requestAccess", {{"access", "full"}}, kPageA)),
              "CONSENT_DENIED");
  }
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1) << "the denial is remembered";
  // The site access the person gave stays; methods needing full access never ask.
  EXPECT_EQ(privateKey("/notes", kPageA).size(), 64U);
  EXPECT_EQ(
      codeOf(call("signBlock", {{"storageKey", std::string(64, 'b')}, {"seq", 1}, {"payload", ""}},
                  kPageA)),
      "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1);
}

TEST_F(Grades, OriginsShareASpaceOnlyWhenThePersonSaysSo) {
  const std::string a = privateKey("/notes", kPageA);
  EXPECT_NE(privateKey("/notes", {{"origin", "https://www.a.example"}}), a);
  auto agent = harness_->connect();
  const json granted = agent.call(
      "grantConsent",
      {{"origin", "https://www.a.example"}, {"access", "site"}, {"space", "https://a.example"}});
  EXPECT_EQ(granted["space"], "https://a.example");
  EXPECT_EQ(privateKey("/notes", {{"origin", "https://www.a.example"}}), a);
  // Bad grants are refused with the parameter named.
  EXPECT_EQ(codeOf(tryCall(agent, "grantConsent",
                           {{"origin", "https://A.example/"}, {"access", "site"}})),
            "BAD_REQUEST");
  EXPECT_EQ(
      codeOf(tryCall(agent, "grantConsent", {{"origin", "https://a.example"}, {"access", "root"}})),
      "BAD_REQUEST");
}

class GradesByPolicy : public Grades {
  AgentSetup setup() override {
    AgentSetup s;
    s.confirm = "no";
    s.policy =
        json{{"origins",
              {{"fullAccess", {"https://app.example"}},
               {"allow", {"https://*.corp.example"}},
               {"sameSpace",
                json::array({json::array({"https://app.example", "https://www.app.example"})})}}}};
    return s;
  }
};

TEST_F(GradesByPolicy, PolicyGrantsGradesAndSharesSpacesWithoutAsking) {
  const std::string full = privateKey("/notes", json::object());
  EXPECT_EQ(privateKey("/notes", {{"origin", "https://app.example"}}), full);
  const std::string wiki = privateKey("/notes", {{"origin", "https://wiki.corp.example"}});
  ASSERT_EQ(wiki.size(), 64U) << wiki;
  EXPECT_NE(wiki, full);
  // www.app.example has site access only if someone grants it, but its space is app's.
  auto agent = harness_->connect();
  agent.call("grantConsent", {{"origin", "https://www.app.example"}, {"access", "site"}});
  EXPECT_EQ(privateKey("/notes", {{"origin", "https://www.app.example"}}),
            privateKey("/notes", json::object(), {{"space", "https://app.example"}}));
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 0);
}

class Dialogs : public Grades {
  AgentSetup setup() override {
    AgentSetup s;
    s.cancelPin = true;
    return s;
  }
};

TEST_F(Dialogs, APageCannotReopenPinDialogsInALoop) {
  auto agent = harness_->connect();
  agent.call("grantConsent", {{"origin", "https://a.example"}, {"access", "site"}});
  const json params = {{"key", key_}, {"kind", "private"}, {"uri", "/notes"}};
  EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params, kPageA)), "PIN_CANCELLED");
  for (int i = 0; i < 10; ++i) {
    const json again = tryCall(agent, "deriveStorageKey", params, kPageA);
    ASSERT_EQ(codeOf(again), "RATE_LIMITED") << again.dump();
    EXPECT_GT(again["error"]["data"].value("retryAfter", 0), 0);
  }
  EXPECT_EQ(harness_->countPinentry("GETPIN"), 1) << "one dialog, then the page waits";
  // Another site is not held back by this one, nor is the person at the keyboard.
  agent.call("grantConsent", {{"origin", "https://b.example"}, {"access", "site"}});
  EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params, kPageB)), "PIN_CANCELLED");
  EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params)), "PIN_CANCELLED");
  EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params)), "PIN_CANCELLED");
  EXPECT_EQ(harness_->countPinentry("GETPIN"), 4);
}

class EmptyPin : public Grades {
  AgentSetup setup() override {
    AgentSetup s;
    s.pinentryPins = "," + s.pin;  // first an empty PIN, then the right one
    return s;
  }
};

TEST_F(EmptyPin, AnEmptyPinIsACancelAndNeverReachesTheToken) {
  auto agent = harness_->connect();
  const json first = tryCall(agent, "login", json::object());
  EXPECT_EQ(codeOf(first), "PIN_CANCELLED") << first.dump();
  EXPECT_EQ(harness_->agentLog().find("wrong PIN"), std::string::npos);
  for (const auto& token : agent.call("listTokens", json::object())) {
    EXPECT_EQ(token["pinState"], "ok");
  }
  EXPECT_EQ(codeOf(tryCall(agent, "login", json::object())), "OK");
}

TEST_F(Grades, TokenEventsReachOnlyOriginsWithAccessAndNameNoToken) {
  auto agent = harness_->connect();
  agent.call("grantConsent", {{"origin", "https://a.example"}, {"access", "site"}});
  const auto subscribe = [&](const json& meta) {
    auto socket = std::make_unique<RawSocket>(harness_->socket());
    json message = request(1, "subscribe");
    message.update(meta);
    socket->sendRequest(message);
    const auto reply = socket->receive();
    EXPECT_TRUE(reply && reply->contains("result")) << (reply ? reply->dump() : "EOF");
    return socket;
  };
  const auto local = subscribe(json::object());
  const auto pageA = subscribe(kPageA);
  const auto pageB = subscribe(kPageB);  // no access: subscribing is allowed, hearing is not
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 0) << "subscribing asks nobody";
  // Take the token away: SoftHSM2 reports it gone on the agent's next scan.
  for (const auto& entry : std::filesystem::directory_iterator(harness_->home() / "tokens")) {
    std::filesystem::remove_all(entry.path());
  }
  const auto forLocal = local->receive(std::chrono::seconds(10));
  ASSERT_TRUE(forLocal);
  EXPECT_EQ((*forLocal)["method"], "tokenRemoved");
  EXPECT_NE((*forLocal)["params"].value("token", "").find("p2pcp-test"), std::string::npos)
      << "the person's own tools see which token";
  const auto forA = pageA->receive(std::chrono::seconds(10));
  ASSERT_TRUE(forA);
  EXPECT_EQ(*forA, json::parse(R"({"jsonrpc":"2.0","method":"tokenRemoved","params":{},
                                   "origin":"https://a.example"})"));
  EXPECT_THROW((void)pageB->receive(std::chrono::milliseconds(2500)), std::exception)
      << "an origin without access hears nothing";
}

// A request admitted with some access, then waiting (for the PIN dialog the
// person's own login holds), must not deliver its result once the person has
// revoked that access meanwhile.
class SlowDialogs : public Grades {
  AgentSetup setup() override {
    AgentSetup s;
    s.pinentryDelayMs = 2000;
    return s;
  }
};

TEST_F(SlowDialogs, ARevocationWhileARequestWaitsWithholdsItsResult) {
  auto agent = harness_->connect();
  agent.call("grantConsent", {{"origin", "https://a.example"}, {"access", "full"}});
  const json sealed = call("seal", {{"uri", "/diary"}, {"plaintext", toBase64(asBytes("diary"))}});
  ASSERT_EQ(codeOf(sealed), "OK");
  agent.call("lock", json::object());
  // The person logs in from the CLI (a 2 s dialog); the page's open waits behind it.
  std::thread person([&] {
    auto own = harness_->connect();
    (void)tryCall(own, "login", json::object());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  RawSocket page(harness_->socket());
  json open = request(7, "open",
                      {{"key", key_}, {"uri", "/diary"}, {"sealed", resultOf(sealed, "sealed")}});
  open.update(kPageA);
  page.sendRequest(open);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(agent.call("revokeConsent", {{"origin", "https://a.example"}})["revoked"], true);
  const auto reply = page.receive();
  person.join();
  ASSERT_TRUE(reply);
  ASSERT_TRUE(reply->contains("error"))
      << "the diary reached a page whose access was revoked: " << reply->dump();
  EXPECT_EQ((*reply)["error"]["data"]["error"], "CONSENT_DENIED");
}

// Requests waiting for the person hold worker threads: only a few pages may
// wait at once, so the person's own large requests and a lock are never stuck
// behind dialogs.
TEST_F(SlowDialogs, PagesWaitingForTheScreenNeverTieUpTheAgent) {
  auto agent = harness_->connect();
  agent.call("login", json::object());  // the person's own 2 s dialog, before the pages come
  std::vector<std::unique_ptr<RawSocket>> pages;
  for (int i = 0; i < 6; ++i) {
    pages.push_back(std::make_unique<RawSocket>(harness_->socket()));
    json ask = request(i, "getPublicKey", {{"key", key_}});
    ask.update(json{{"origin", "https://p" + std::to_string(i) + ".example"}});
    pages.back()->sendRequest(ask);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int confirmsBefore = harness_->countPinentry("CONFIRM");
  // A local request big enough (over 64 KiB) to need a worker, and no dialog.
  RawSocket local(harness_->socket());
  local.sendRequest(request("big", "seal",
                            {{"key", key_},
                             {"uri", "/big"},
                             {"plaintext", toBase64(Bytes(std::size_t{100} * 1024U, 1))}}));
  const auto sealed = local.receive();
  ASSERT_TRUE(sealed);
  EXPECT_TRUE(sealed->contains("result")) << sealed->dump();
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), confirmsBefore)
      << "the person's request waited for a page's dialog to end";
  // A lock (SIGUSR1) takes effect while the pages' dialog is still open.
  ASSERT_EQ(::kill(harness_->pid(), SIGUSR1), 0);
  bool locked = false;
  for (int i = 0; i < 50 && !locked; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    locked = !agent.call("listTokens", json::object())[0].value("loggedIn", true);
  }
  EXPECT_TRUE(locked);
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), confirmsBefore) << "the lock waited for a dialog";
  int limited = 0;
  for (const auto& page : pages) {
    const auto reply = page->receive(std::chrono::seconds(30));
    ASSERT_TRUE(reply);
    if (reply->contains("error") && (*reply)["error"]["data"]["error"] == "RATE_LIMITED") {
      ++limited;
    }
  }
  EXPECT_GE(limited, 3) << "at most 3 page requests may wait for the screen";
  EXPECT_LE(harness_->countPinentry("CONFIRM"), 3);
}

class DeniedSites : public Grades {
  AgentSetup setup() override {
    AgentSetup s;
    s.confirm = "no";
    return s;
  }
};

TEST_F(DeniedSites, ThrowawaySubdomainsCannotAskInTurn) {
  int limited = 0;
  for (int i = 0; i < 8; ++i) {
    const json page = {{"origin", "https://r" + std::to_string(i) + ".evil.example"}};
    const json outcome = call("getPublicKey", json::object(), page);
    limited += codeOf(outcome) == "RATE_LIMITED" ? 1 : 0;
  }
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 1) << "one denial pauses the whole site";
  EXPECT_EQ(limited, 7);
  // Another site is not held back.
  EXPECT_EQ(codeOf(call("getPublicKey", json::object(), kPageB)), "CONSENT_DENIED");
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 2);
}

TEST_F(DeniedSites, ForgettingADenialLetsTheOriginAskAgainAtOnce) {
  EXPECT_EQ(codeOf(call("getPublicKey", json::object(), kPageA)), "CONSENT_DENIED");
  auto agent = harness_->connect();
  agent.call("revokeConsent", {{"origin", "https://a.example"}});
  // The person said "forget it": no pause left over from the denial.
  EXPECT_EQ(codeOf(call("getPublicKey", json::object(), kPageA)), "CONSENT_DENIED");
  EXPECT_EQ(harness_->countPinentry("CONFIRM"), 2);
}

class BrokenPinentry : public Grades {
  AgentSetup setup() override {
    AgentSetup s;
    s.pinentryProgram = "/nonexistent/pinentry";
    return s;
  }
};

TEST_F(BrokenPinentry, ADialogThatFailsCountsAsRefused) {
  auto agent = harness_->connect();
  agent.call("grantConsent", {{"origin", "https://a.example"}, {"access", "site"}});
  const json params = {{"kind", "private"}, {"uri", "/notes"}};
  EXPECT_EQ(codeOf(call("deriveStorageKey", params, kPageA)), "PINENTRY_FAILED");
  EXPECT_EQ(codeOf(call("deriveStorageKey", params, kPageA)), "RATE_LIMITED")
      << "nobody answered: the page waits before its next dialog";
  EXPECT_EQ(codeOf(call("deriveStorageKey", params)), "PINENTRY_FAILED")
      << "the person's own tools are not held back";
}

}  // namespace
}  // namespace p2pcp::testing
