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

std::string errorOf(std::string_view text) {
  const auto translated = toAgentRequest(text);
  if (const auto* error = std::get_if<ErrorReply>(&translated)) {
    return error->message["error"]["data"]["error"].get<std::string>();
  }
  return "OK";
}

TEST(HostMessage, OnlyIdMethodParamsAndOriginReachTheAgent) {
  const auto translated = toAgentRequest(
      R"({"id": 3, "method": "deriveStorageKey", "params": {"uri": "/a"}, "origin": "https://a.example"})");
  const auto* request = std::get_if<AgentRequest>(&translated);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->message,
            json::parse(R"({"jsonrpc": "2.0", "id": 3, "method": "deriveStorageKey",
                            "params": {"uri": "/a"}, "origin": "https://a.example"})"));
}

TEST(HostMessage, BadMessagesGetTypedErrors) {
  EXPECT_EQ(errorOf("not json"), "PARSE_ERROR");
  EXPECT_EQ(errorOf("[1]"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"method": "hello"})"), "BAD_REQUEST");  // no id
  EXPECT_EQ(errorOf(R"({"id": 1.5, "method": "hello"})"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"id": 1, "method": 7})"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"id": 1, "method": "hello", "params": []})"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"id": 1, "method": "hello", "tty": "/dev/pts/1"})"), "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"j({"id": 1, "method": "hello", "origin": "javascript:alert(1)"})j"),
            "BAD_REQUEST");
  EXPECT_EQ(errorOf(R"({"id": 1, "method": "hello"})"), "OK");
}

}  // namespace
}  // namespace p2pcp::host
