// SPDX-License-Identifier: Apache-2.0
// Who may use the host, and what a browser message may carry to the agent.
#include "p2pcp/host/caller.hpp"

#include <gtest/gtest.h>

#include "p2pcp/host/browser_message.hpp"

namespace p2pcp::host {
namespace {

using nlohmann::json;
using Args = std::vector<std::string>;

TEST(HostCaller, ChromiumPassesTheExtensionOrigin) {
  const auto caller = parseCaller(Args{"chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa/"});
  ASSERT_TRUE(caller);
  EXPECT_EQ(caller->browser, Browser::Chromium);
  EXPECT_EQ(caller->extensionId, "hpncikinbmmcogikfdckffepdimmcaaa");
  // Windows adds --parent-window; it does not change the caller.
  EXPECT_TRUE(parseCaller(
      Args{"chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa/", "--parent-window=0"}));
}

TEST(HostCaller, FirefoxPassesTheManifestPathAndTheAddOnId) {
  const auto caller = parseCaller(
      Args{"/home/a/.mozilla/native-messaging-hosts/dev.p2pcp.agent.json", "key-agent@p2pcp.dev"});
  ASSERT_TRUE(caller);
  EXPECT_EQ(caller->browser, Browser::Firefox);
  EXPECT_EQ(caller->extensionId, "key-agent@p2pcp.dev");
}

TEST(HostCaller, AnythingElseIsNoCaller) {
  EXPECT_FALSE(parseCaller(Args{}));
  EXPECT_FALSE(parseCaller(Args{"chrome-extension://short/"}));
  EXPECT_FALSE(parseCaller(Args{"chrome-extension://hpncikinbmmcogikfdckffepdimmcaaz/"}));
  EXPECT_FALSE(parseCaller(Args{"https://hpncikinbmmcogikfdckffepdimmcaaa/"}));
  EXPECT_FALSE(parseCaller(Args{"/x/manifest.json", "bad id; rm -rf"}));
  EXPECT_FALSE(parseCaller(Args{"--help"}));
}

TEST(HostCaller, PolicyListReplacesTheBuiltInIds) {
  const auto builtIn = allowedExtensionIds({});
  EXPECT_NE(std::find(builtIn.begin(), builtIn.end(), "hpncikinbmmcogikfdckffepdimmcaaa"),
            builtIn.end());
  const auto fromPolicy = allowedExtensionIds({"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"});
  const BrowserCaller dev{Browser::Chromium, "hpncikinbmmcogikfdckffepdimmcaaa"};
  EXPECT_TRUE(isAllowed(dev, builtIn));
  EXPECT_FALSE(isAllowed(dev, fromPolicy));
}

const BrowserCaller kChromium{Browser::Chromium, "hpncikinbmmcogikfdckffepdimmcaaa"};
const BrowserCaller kFirefox{Browser::Firefox, "key-agent@p2pcp.dev"};

std::string errorOf(std::string_view text, const BrowserCaller& caller = kChromium) {
  const auto translated = toAgentRequest(text, caller);
  if (const auto* error = std::get_if<ErrorReply>(&translated)) {
    return error->message["error"]["data"]["error"].get<std::string>();
  }
  return "OK";
}

json relayed(std::string_view text, const BrowserCaller& caller = kChromium) {
  const auto translated = toAgentRequest(text, caller);
  const auto* request = std::get_if<AgentRequest>(&translated);
  return request != nullptr ? request->message : json();
}

TEST(HostMessage, APageRequestIsMarkedWithItsOriginAndTheExtension) {
  EXPECT_EQ(
      relayed(
          R"({"id": 3, "method": "deriveStorageKey", "params": {"uri": "/a"}, "origin": "https://a.example"})"),
      json::parse(R"({"jsonrpc": "2.0", "id": 3, "method": "deriveStorageKey",
                      "params": {"uri": "/a"}, "origin": "https://a.example",
                      "extension": "hpncikinbmmcogikfdckffepdimmcaaa"})"));
}

TEST(HostMessage, TheExtensionsOwnPagesAreMarkedAsTheExtension) {
  EXPECT_EQ(
      relayed(
          R"({"id": 1, "method": "listConsents", "origin": "chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa"})"),
      json::parse(R"({"jsonrpc": "2.0", "id": 1, "method": "listConsents",
                            "extension": "hpncikinbmmcogikfdckffepdimmcaaa"})"));
  EXPECT_EQ(
      relayed(
          R"({"id": 1, "method": "status", "origin": "moz-extension://0f6c1e2a-3b4c-4d5e-8f90-a1b2c3d4e5f6"})",
          kFirefox)["extension"],
      "key-agent@p2pcp.dev");
  // Another extension's origin is neither a page nor this extension.
  EXPECT_EQ(
      errorOf(
          R"({"id": 1, "method": "status", "origin": "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})"),
      "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(
      errorOf(
          R"({"id": 1, "method": "status", "origin": "moz-extension://0f6c1e2a-3b4c-4d5e-8f90-a1b2c3d4e5f6"})"),
      "NOT_ALLOWED_BY_POLICY")
      << "a Firefox origin from a Chromium caller";
}

TEST(HostMessage, NothingIsRelayedWithoutASenderOrBeyondTheCallerTable) {
  EXPECT_EQ(errorOf(R"({"id": 1, "method": "hello"})"), "BAD_REQUEST") << "no origin";
  EXPECT_EQ(
      errorOf(R"({"id": 1, "method": "generateKey", "params": {"type": "rsa", "label": "x"}})"),
      "BAD_REQUEST");
  for (const char* method : {"generateKey", "revokeConsent", "grantConsent", "lock", "login",
                             "status", "listTokens", "setDefaultKey", "listConsents"}) {
    EXPECT_EQ(errorOf(json{{"id", 1}, {"method", method}, {"origin", "https://a.example"}}.dump()),
              "NOT_ALLOWED_BY_POLICY")
        << method;
  }
  for (const char* method : {"generateKey", "grantConsent", "signBlock", "seal", "sign", "login"}) {
    EXPECT_EQ(errorOf(json{{"id", 1},
                           {"method", method},
                           {"origin", "chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa"}}
                          .dump()),
              "NOT_ALLOWED_BY_POLICY")
        << method;
  }
  EXPECT_EQ(errorOf(R"({"id": 1, "method": "fly", "origin": "https://a.example"})"),
            "METHOD_NOT_FOUND");
}

TEST(HostMessage, BadMessagesGetTypedErrors) {
  EXPECT_EQ(errorOf("not json"), "PARSE_ERROR");
  EXPECT_EQ(errorOf("[1]"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"method": "hello", "origin": "https://a.example"})"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"id": 1.5, "method": "hello", "origin": "https://a.example"})"),
            "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"id": 1, "method": 7, "origin": "https://a.example"})"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"id": 1, "method": "hello", "params": [], "origin": "https://a.example"})"),
            "BAD_REQUEST");
  EXPECT_EQ(
      errorOf(
          R"({"id": 1, "method": "hello", "tty": "/dev/pts/1", "origin": "https://a.example"})"),
      "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"j({"id": 1, "method": "hello", "origin": "javascript:alert(1)"})j"),
            "NOT_ALLOWED_BY_POLICY");
  EXPECT_EQ(
      errorOf(
          R"({"id": 1, "method": "hello", "origin": "https://a.example", "origin": "https://b.example"})"),
      "BAD_REQUEST")
      << "a member twice";
  EXPECT_EQ(errorOf("{\"id\": 1, \"method\": \"hello\", \"origin\": \"https://a.example\", "
                    "\"params\": {\"a\": " +
                    std::string(40000, '[') + std::string(40000, ']') + "}}"),
            "BAD_REQUEST")
      << "nesting";
  EXPECT_EQ(errorOf(R"({"id": 1, "method": "hello", "origin": "https://a.example"})"), "OK");
}

}  // namespace
}  // namespace p2pcp::host
