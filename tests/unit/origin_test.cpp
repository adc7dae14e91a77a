// SPDX-License-Identifier: Apache-2.0
// Origins as browsers report them, the administrator's origin patterns and
// extension ids.
#include "p2pcp/agent/origin.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "p2pcp/agent/extension_id.hpp"

namespace p2pcp::agent {
namespace {

// The message OriginPattern::parse throws, or "" when the entry is accepted.
std::string patternError(std::string_view entry) {
  try {
    (void)OriginPattern::parse(entry);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(CanonicalOrigin, WhatBrowsersReportIsCanonical) {
  for (const char* origin :
       {"https://app.example", "http://localhost", "http://localhost:8080", "https://127.0.0.1",
        "http://10.0.0.1:3000", "https://[::1]", "https://[2001:db8::1]:8443",
        "https://xn--bcher-kva.example", "https://a-b_c.example", "https://app.example:80",
        "http://app.example:443", "https://[::ffff:c000:201]"}) {
    EXPECT_TRUE(isCanonicalWebOrigin(origin)) << origin;
    EXPECT_EQ(patternError(origin), "") << origin;
    EXPECT_EQ(canonicalWebOrigin(origin), origin);
  }
}

TEST(CanonicalOrigin, NearMissesNameTheFormToWrite) {
  const std::vector<std::pair<const char*, const char*>> nearMisses{
      {"https://App.example/", "https://app.example"},
      {"HTTPS://APP.EXAMPLE", "https://app.example"},
      {"https://app.example:443", "https://app.example"},
      {"http://app.example:80/", "http://app.example"},
      {"https://app.example:08443", "https://app.example:8443"},
      {" https://app.example ", "https://app.example"},
      {"https://app.example:", "https://app.example"},
      {"https://[0:0:0:0:0:0:0:1]", "https://[::1]"},
      {"https://[2001:DB8:0:0:1:0:0:1]", "https://[2001:db8::1:0:0:1]"},
      {"https://[::ffff:192.0.2.1]", "https://[::ffff:c000:201]"},
      {"https://*.Corp.example/", "https://*.corp.example"},
  };
  for (const auto& [entry, canonical] : nearMisses) {
    EXPECT_FALSE(isCanonicalWebOrigin(entry)) << entry;
    const std::string error = patternError(entry);
    EXPECT_TRUE(
        contains(error, std::string("is not a canonical origin; write \"") + canonical + "\""))
        << entry << ": " << error;
  }
  EXPECT_EQ(patternError("https://App.example/"),
            R"("https://App.example/" is not a canonical origin; write "https://app.example")");
  EXPECT_EQ(canonicalWebOrigin("https://App.example:443/"), "https://app.example");
}

TEST(CanonicalOrigin, NonOriginsAreRefusedWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"https://app.example/path", "no path"},
      {"https://app.example/?q=1", "no path"},
      {"https://app.example#top", "no path"},
      {"https://user:pw@app.example", "no user name"},
      {"ftp://app.example", "scheme must be https or http"},
      {"chrome-extension://hpncikinbmmcogikfdckffepdimmcaaa", "scheme must be https or http"},
      {"app.example", "scheme://host"},
      {"null", "scheme://host"},
      {"", "empty"},
      {"https://app example", "whitespace"},
      {"https://app.example\n", ""},  // trailing whitespace: a near miss (see below)
      {"https://b\xc3\xbc"
       "cher.example",
       "punycode"},
      {"https://app.example.", "ends with a dot"},
      {"https://app..example", "empty label"},
      {"https://1.2.3", "IPv4"},
      {"https://01.2.3.4", "IPv4"},
      {"https://256.1.1.1", "IPv4"},
      {"https://0x7f.0.0.1", "IPv4"},
      {"https://app.example:0", "port"},
      {"https://app.example:65536", "port"},
      {"https://app.example:http", "port"},
      {"https://::1", "brackets"},
      {"https://[::1", "closing"},
      {"https://[zz::1]", "IPv6"},
      {"https://[::1]x", "only a port"},
      {"https://", "no host"},
      {"https://app$.example", "letters, digits"},
      {"https://" + std::string(64, 'a') + ".example", "63"},
  };
  for (const auto& [entry, reason] : bad) {
    EXPECT_FALSE(isCanonicalWebOrigin(entry)) << entry;
    const std::string error = patternError(entry);
    EXPECT_FALSE(error.empty()) << entry;
    EXPECT_TRUE(contains(error, reason)) << entry << ": " << error;
    if (entry.find('\n') == std::string::npos) {
      EXPECT_TRUE(contains(error, "is not a valid origin")) << error;
      EXPECT_FALSE(canonicalWebOrigin(entry)) << entry;
    }
  }
  // The entry is quoted with control characters escaped, so messages stay one line.
  EXPECT_EQ(patternError("https://app.example\n"),
            R"("https://app.example\n" is not a canonical origin; write "https://app.example")");
}

TEST(OriginPatternTest, TheOneWildcardForm) {
  for (const char* good : {"https://*.corp.example", "http://*.corp.example:8080",
                           "https://*.a.b.corp.example", "https://*.co.uk"}) {
    EXPECT_EQ(patternError(good), "") << good;
    EXPECT_TRUE(OriginPattern::parse(good).isWildcard());
    EXPECT_EQ(OriginPattern::parse(good).text(), good);
  }
  const std::vector<std::pair<const char*, const char*>> bad{
      {"*", "https://*.corp.example"},
      {"https://*", "https://*.corp.example"},
      {"*.corp.example", "https://*.corp.example"},
      {"https://a*.example", "whole first label"},
      {"https://*a.example", "whole first label"},
      {"https://*.example.*", "whole first label"},
      {"https://*.*.example", "whole first label"},
      {"https://corp.*.example", "whole first label"},
      {"https://**.example", "whole first label"},
      {"https://*.com", "at least two labels"},
      {"https://*.localhost", "at least two labels"},
      {"https://*.1.2.3.4", "not an IP address"},
      {"https://*.0.1", "not an IP address"},
      {"https://[*::1]", "IPv6"},
      {"*://app.example", "scheme"},
      {"https://*.corp.example/*", "no path"},
  };
  for (const auto& [entry, reason] : bad) {
    const std::string error = patternError(entry);
    EXPECT_TRUE(contains(error, reason)) << entry << ": " << error;
    EXPECT_TRUE(contains(error, std::string("\"") + entry + "\"")) << "names the entry: " << error;
  }
  // Exact-only places (sameSpace) refuse every wildcard.
  EXPECT_THROW(requireCanonicalWebOrigin("https://*.corp.example"), std::invalid_argument);
  EXPECT_NO_THROW(requireCanonicalWebOrigin("https://corp.example"));
}

TEST(OriginPatternTest, ExactPatternsMatchTheirOriginInAnySpelling) {
  const auto pattern = OriginPattern::parse("https://evil.example");
  EXPECT_FALSE(pattern.isWildcard());
  EXPECT_TRUE(pattern.matches("https://evil.example"));
  // A differently written origin cannot slip past a block.
  EXPECT_TRUE(pattern.matches("https://EVIL.example"));
  EXPECT_TRUE(pattern.matches("HTTPS://evil.example:443"));
  for (const char* other :
       {"http://evil.example", "https://evil.example:8443", "https://sub.evil.example",
        "https://evil.example.com", "https://xevil.example", "chrome-extension://evil.example", "",
        "https://evil.example/path"}) {
    EXPECT_FALSE(pattern.matches(other)) << other;
  }
  const auto port = OriginPattern::parse("http://localhost:8080");
  EXPECT_TRUE(port.matches("http://localhost:8080"));
  EXPECT_FALSE(port.matches("http://localhost"));
  EXPECT_FALSE(port.matches("http://localhost:8081"));
}

TEST(OriginPatternTest, WildcardsMatchAtALabelBoundaryOnly) {
  const auto pattern = OriginPattern::parse("https://*.corp.example");
  for (const char* inside : {"https://a.corp.example", "https://a.b.corp.example",
                             "https://A.Corp.Example", "https://x-1.corp.example:443"}) {
    EXPECT_TRUE(pattern.matches(inside)) << inside;
  }
  for (const char* outside :
       {"https://corp.example", "https://evilcorp.example", "https://a.evilcorp.example",
        "https://a.corp.example.evil", "https://corp.example.a", "http://a.corp.example",
        "https://a.corp.example:8443", "https://.corp.example", "https://[::1]",
        "moz-extension://a.corp.example"}) {
    EXPECT_FALSE(pattern.matches(outside)) << outside;
  }
  const auto withPort = OriginPattern::parse("https://*.corp.example:8443");
  EXPECT_TRUE(withPort.matches("https://a.corp.example:8443"));
  EXPECT_FALSE(withPort.matches("https://a.corp.example"));
}

TEST(OriginPatternTest, IpAddresses) {
  const auto v6 = OriginPattern::parse("https://[2001:db8::1]:8443");
  EXPECT_TRUE(v6.matches("https://[2001:db8::1]:8443"));
  EXPECT_TRUE(v6.matches("https://[2001:DB8:0:0:0:0:0:1]:8443"));
  EXPECT_FALSE(v6.matches("https://[2001:db8::2]:8443"));
  EXPECT_FALSE(v6.matches("https://[2001:db8::1]"));
  const auto loopback = OriginPattern::parse("http://[::1]");
  EXPECT_TRUE(loopback.matches("http://[::1]:80"));
  const auto v4 = OriginPattern::parse("http://127.0.0.1:8080");
  EXPECT_TRUE(v4.matches("http://127.0.0.1:8080"));
  EXPECT_FALSE(v4.matches("http://127.0.0.2:8080"));
}

// Only https and the loopback hosts browsers trust are secure contexts: a DNS
// name that merely starts with "127." is any site on the network (its owner
// can point it anywhere), so it gets the plain-http warning in the pairing
// and access dialogs and never full access.
TEST(PotentiallyTrustworthy, LoopbackAddressesNotNamesThatLookLikeThem) {
  for (const char* secure : {"https://app.example", "http://localhost:3000", "http://app.localhost",
                             "http://127.0.0.1:8080", "http://127.1.2.3", "http://[::1]:8080"}) {
    EXPECT_TRUE(isPotentiallyTrustworthy(secure)) << secure;
  }
  for (const char* plain :
       {"http://app.example", "http://127.evil.example", "http://127.0.0.1.evil.example:8080",
        "http://127-0-0-1.example", "http://localhost.evil.example", "http://[::2]"}) {
    EXPECT_FALSE(isPotentiallyTrustworthy(plain)) << plain;
  }
}

TEST(ExtensionIds, ChromiumAndFirefoxFormsOnly) {
  EXPECT_TRUE(isChromiumExtensionId("hpncikinbmmcogikfdckffepdimmcaaa"));
  for (const char* bad :
       {"hpncikinbmmcogikfdckffepdimmcaa", "hpncikinbmmcogikfdckffepdimmcaaaa",
        "hpncikinbmmcogikfdckffepdimmcaaz", "HPNCIKINBMMCOGIKFDCKFFEPDIMMCAAA", ""}) {
    EXPECT_FALSE(isChromiumExtensionId(bad)) << bad;
  }
  for (const char* good : {"key-agent@p2pcp.dev", "a.b_c-d@example.org", "@p2pcp.dev",
                           "{12345678-abcd-ABCD-9999-0123456789ab}"}) {
    EXPECT_TRUE(isFirefoxAddOnId(good)) << good;
  }
  for (const char* bad :
       {"", "no-at-sign", "name@", "a@b@c", "bad id; rm -rf", "a b@example.org", "x@exa mple",
        "{12345678-abcd-abcd-9999-0123456789a}", "{12345678-abcd-abcd-9999-0123456789abc}",
        "{1234567g-abcd-abcd-9999-0123456789ab}", "12345678-abcd-abcd-9999-0123456789ab",
        "a+b@example.org", "a@ex\nample.org"}) {
    EXPECT_FALSE(isFirefoxAddOnId(bad)) << bad;
  }
  EXPECT_FALSE(isFirefoxAddOnId(std::string(250, 'a') + "@p2pcp.dev")) << "at most 255 bytes";
}

}  // namespace
}  // namespace p2pcp::agent
