// SPDX-License-Identifier: Apache-2.0
// PINs, login state, consent and policy, through pinentry, on a real token.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "agent_harness.hpp"
#include "p2pcp/common/encoding.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;

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

#define SKIP_WITHOUT_SOFTHSM()                              \
  if (auto missing = AgentHarness::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                               \
  }

TEST(AgentAuth, WrongPinIsReportedWithRetryStateAndNeverRetried) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.pinentryPins = "0000-wrong,4321-test-pin";
  AgentHarness harness(setup);
  auto agent = harness.connect();
  const std::string key = harness.keyFingerprint("ed25519");
  const json params = {{"key", key}, {"kind", "private"}, {"uri", "/notes"}};

  const json first = tryCall(agent, "deriveStorageKey", params);
  ASSERT_EQ(codeOf(first), "PIN_INCORRECT") << first.dump();
  EXPECT_TRUE(first["error"]["data"].contains("pinState"));
  EXPECT_EQ(harness.countPinentry("GETPIN"), 1) << "the agent never retries a PIN on its own";

  const json second = tryCall(agent, "deriveStorageKey", params);
  EXPECT_EQ(codeOf(second), "OK") << second.dump();
  EXPECT_EQ(harness.countPinentry("GETPIN"), 2);
  EXPECT_EQ(harness.agentLog().find("0000-wrong"), std::string::npos);
  EXPECT_EQ(harness.agentLog().find("4321-test-pin"), std::string::npos);
}

TEST(AgentAuth, PinPromptNamesTokenAndCaller) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  agent.call("login", json::object());
  bool described = false;
  for (const auto& line : harness.pinentryLog()) {
    if (line.value("cmd", "") == "SETDESC") {
      const auto text = line.value("arg", "");
      described = text.find("p2pcp-test") != std::string::npos &&
                  text.find("a local program") != std::string::npos;
    }
    EXPECT_EQ(line.dump().find("4321-test-pin"), std::string::npos) << "pinentry log holds no PIN";
  }
  EXPECT_TRUE(described);
}

TEST(AgentAuth, CancelledPinEntry) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.cancelPin = true;
  AgentHarness harness(setup);
  auto agent = harness.connect();
  EXPECT_EQ(codeOf(tryCall(agent, "login", json::object())), "PIN_CANCELLED");
  EXPECT_EQ(codeOf(tryCall(agent, "hello", json::object())), "OK");
}

TEST(AgentAuth, LockForgetsTheLoginAndTheRootSecret) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  const json params = {
      {"key", harness.keyFingerprint("p256")}, {"kind", "private"}, {"uri", "/notes"}};
  const auto first = agent.call("deriveStorageKey", params);
  const auto cached = agent.call("deriveStorageKey", params);
  EXPECT_EQ(first, cached);
  EXPECT_EQ(harness.countPinentry("GETPIN"), 1);
  EXPECT_EQ(agent.call("lock", json::object())["locked"], true);
  for (const auto& token : agent.call("listTokens", json::object())) {
    EXPECT_FALSE(token["loggedIn"].get<bool>());
  }
  EXPECT_EQ(agent.call("deriveStorageKey", params), first);
  EXPECT_EQ(harness.countPinentry("GETPIN"), 2) << "after lock the PIN is asked again";
}

TEST(AgentAuth, IdleLoginExpiresByPolicy) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.policy = json{{"pinCacheSeconds", 1}};
  AgentHarness harness(setup);
  auto agent = harness.connect();
  agent.call("login", json::object());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool loggedOut = false;
  while (!loggedOut && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    loggedOut = !agent.call("listTokens", json::object())[0]["loggedIn"].get<bool>();
  }
  EXPECT_TRUE(loggedOut);
}

TEST(AgentConsent, PageNeedsConsentAndADenialIsRememberedListedAndRevocable) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.confirm = "no";
  AgentHarness harness(setup);
  const std::string key = harness.keyFingerprint("p256");
  const json params = {{"key", key}, {"kind", "public"}, {"uri", "/profile"}};
  const json page = {{"origin", "https://a.example"}};
  {
    auto agent = harness.connect();
    EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params, page)), "CONSENT_DENIED");
    EXPECT_EQ(codeOf(tryCall(agent, "hello", json::object(), page)), "OK")
        << "hello needs no consent";
    // The denial is remembered: no new dialog, however often the page asks.
    for (int i = 0; i < 5; ++i) {
      const json again = tryCall(agent, "deriveStorageKey", params, page);
      ASSERT_EQ(codeOf(again), "CONSENT_DENIED");
      EXPECT_EQ(again["error"]["data"].value("remembered", false), true);
      EXPECT_GT(again["error"]["data"].value("retryAfter", 0), 3600);
    }
    EXPECT_EQ(harness.countPinentry("CONFIRM"), 1);
    const auto listed = agent.call("listConsents", json::object());
    ASSERT_EQ(listed.size(), 1U);
    ASSERT_TRUE(listed[0].is_object()) << listed.dump();
    EXPECT_EQ(listed[0].value("origin", ""), "https://a.example");
    EXPECT_EQ(listed[0].value("access", ""), "none");
    EXPECT_EQ(listed[0].value("denied", json::object()).value("access", ""), "site");
  }
  // Remembered across a restart too (it is on disk), until the person revokes it.
  setup.confirm = "yes";
  harness.restart(setup);
  auto agent = harness.connect();
  EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params, page)), "CONSENT_DENIED");
  EXPECT_EQ(harness.countPinentry("CONFIRM"), 1);
  EXPECT_EQ(agent.call("revokeConsent", {{"origin", "https://a.example"}})["revoked"], true);
  EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params, page)), "OK");
  EXPECT_EQ(codeOf(tryCall(agent, "deriveStorageKey", params, page)), "OK");
  EXPECT_EQ(harness.countPinentry("CONFIRM"), 2) << "asked once more, then remembered";
  bool named = false;
  for (const auto& line : harness.pinentryLog()) {
    named = named || (line.value("cmd", "") == "SETDESC" &&
                      line.value("arg", "").find("https://a.example") != std::string::npos);
  }
  EXPECT_TRUE(named) << "the consent prompt names the origin";

  const auto consents = agent.call("listConsents", json::object());
  ASSERT_EQ(consents.size(), 1U);
  ASSERT_TRUE(consents[0].is_object()) << consents.dump();
  EXPECT_EQ(consents[0].value("origin", ""), "https://a.example");
  EXPECT_EQ(consents[0].value("access", ""), "site");
  EXPECT_FALSE(consents[0].contains("denied"));
  struct stat st {};
  ASSERT_EQ(::stat((harness.home() / "config" / "p2pcp" / "consents.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0600U);

  for (const char* method : {"listConsents", "revokeConsent", "grantConsent", "lock", "status",
                             "listTokens", "setDefaultKey", "login"}) {
    EXPECT_EQ(codeOf(tryCall(agent, method, json::object(), page)), "NOT_ALLOWED_BY_POLICY")
        << method << ": a page cannot read or change consents, the token or the agent";
  }
  EXPECT_EQ(codeOf(tryCall(agent, "generateKey", {{"type", "ec-p256"}, {"label", "x"}}, page)),
            "NOT_ALLOWED_BY_POLICY");

  // Consent survives a restart (it is on disk), and revoking it asks again.
  harness.restart(setup);
  auto again = harness.connect();
  EXPECT_EQ(codeOf(tryCall(again, "deriveStorageKey", params, page)), "OK");
  EXPECT_EQ(harness.countPinentry("CONFIRM"), 2);
  EXPECT_EQ(again.call("revokeConsent", {{"origin", "https://a.example"}})["revoked"], true);
  EXPECT_EQ(codeOf(tryCall(again, "deriveStorageKey", params, page)), "OK");
  EXPECT_EQ(harness.countPinentry("CONFIRM"), 3);
}

TEST(AgentConsent, OriginsAreKeptApartAndLoginsBoundToTheCallersOrigin) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  const std::string key = harness.keyFingerprint("ed25519");
  const json login = {{"key", key},
                      {"indexServer", "wss://index.example/"},
                      {"nonce", toBase64(Bytes(32, 7))},
                      {"timestamp", 1767225600}};
  const json a = {{"origin", "https://a.example"}};
  const json b = {{"origin", "https://b.example"}};
  const auto fromA = agent.call("signLogin", login, a);
  const auto fromB = agent.call("signLogin", login, b);
  EXPECT_NE(fromA["message"], fromB["message"]);
  const auto messageA = fromBase64(fromA["message"].get<std::string>());
  ASSERT_TRUE(messageA);
  EXPECT_NE(std::string(asChars(*messageA)).find("https://a.example"), std::string::npos);
  json forged = login;
  forged["origin"] = "https://bank.example";
  EXPECT_EQ(codeOf(tryCall(agent, "signLogin", forged, a)), "NOT_ALLOWED_BY_POLICY")
      << "a page cannot sign a login for another site";
  EXPECT_EQ(harness.countPinentry("CONFIRM"), 2) << "each origin asked for itself";
}

TEST(AgentPolicy, BlockedAndUnlistedOrigins) {
  SKIP_WITHOUT_SOFTHSM();
  AgentSetup setup;
  setup.policy = json{{"origins",
                       {{"allow", {"https://corp.example"}},
                        {"block", {"https://evil.example"}},
                        {"onlyAllowed", true}}}};
  AgentHarness harness(setup);
  auto agent = harness.connect();
  const json params = {
      {"key", harness.keyFingerprint("p256")}, {"kind", "public"}, {"uri", "/profile"}};
  EXPECT_EQ(
      codeOf(tryCall(agent, "deriveStorageKey", params, {{"origin", "https://evil.example"}})),
      "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(
      codeOf(tryCall(agent, "deriveStorageKey", params, {{"origin", "https://other.example"}})),
      "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(
      codeOf(tryCall(agent, "deriveStorageKey", params, {{"origin", "https://corp.example"}})),
      "OK");
  EXPECT_EQ(harness.countPinentry("CONFIRM"), 0) << "policy decides without asking";
}

TEST(AgentPolicy, RawSigningIsOffByDefaultAndNeverSignsSchemeMessages) {
  SKIP_WITHOUT_SOFTHSM();
  AgentHarness harness;
  auto agent = harness.connect();
  const std::string key = harness.keyFingerprint("p256");
  const std::string message = toBase64(asBytes("a message a program chose"));
  EXPECT_EQ(codeOf(tryCall(agent, "sign", {{"key", key}, {"message", message}})),
            "NOT_ALLOWED_BY_POLICY");

  AgentSetup setup;
  setup.policy = json{{"rawSigning", true}};
  harness.restart(setup);
  auto allowed = harness.connect();
  EXPECT_EQ(codeOf(tryCall(allowed, "sign",
                           {{"key", key}, {"message", toBase64(asBytes("p2pcp/v1/root"))}})),
            "NOT_ALLOWED_BY_POLICY");
  // Verify with OpenSSL (DER) against the SPKI the agent reports.
  const auto signed_ =
      allowed.call("sign", {{"key", key}, {"message", message}, {"signatureFormat", "der"}});
  const auto spki = fromBase64(signed_["publicKey"].get<std::string>());
  const auto signature = fromBase64(signed_["signature"].get<std::string>());
  ASSERT_TRUE(spki && signature);
  const unsigned char* p = spki->data();
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki->size()));
  ASSERT_NE(pkey, nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey), 1);
  const auto data = asBytes("a message a program chose");
  EXPECT_EQ(EVP_DigestVerify(ctx, signature->data(), signature->size(), data.data(), data.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
}

}  // namespace
}  // namespace p2pcp::testing
