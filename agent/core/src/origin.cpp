// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/origin.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <regex>
#include <stdexcept>
#include <vector>

#include "p2pcp/agent/json_parse.hpp"

namespace p2pcp::agent {

namespace {

// A web origin taken apart. Parsing is lenient where a near miss means one
// origin without doubt (case, default port, one trailing "/", whitespace
// around), so that an error can say what to write instead; whether the entry
// was canonical is decided by comparing it with text().
struct WebOrigin {
  std::string scheme;
  std::string host;        // lower case; IPv6 in brackets; for a wildcard: the domain
  std::uint16_t port = 0;  // 0: the scheme's default
  bool wildcard = false;

  [[nodiscard]] std::string text() const {
    std::string out = scheme + "://" + (wildcard ? "*." : "") + host;
    if (port != 0) {
      out += ":" + std::to_string(port);
    }
    return out;
  }
};

// Either an origin or why the text is none.
struct Parsed {
  std::optional<WebOrigin> origin;
  std::string problem;
};

Parsed fail(std::string problem) {
  return {std::nullopt, std::move(problem)};
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool isDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string_view> labelsOf(std::string_view host) {
  std::vector<std::string_view> labels;
  std::size_t start = 0;
  while (true) {
    const auto dot = host.find('.', start);
    labels.push_back(host.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) {
      return labels;
    }
    start = dot + 1;
  }
}

// IPv6 as the URL standard serializes it: lower-case hex without leading zeros,
// the first longest run of two or more zero pieces as "::", no dotted IPv4 tail.
std::optional<std::string> canonicalIpv6(const std::string& address) {
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET6, address.c_str(), bytes.data()) != 1) {
    return std::nullopt;
  }
  std::array<unsigned, 8> pieces{};
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    pieces[i] = (static_cast<unsigned>(bytes[2 * i]) << 8U) | bytes[2 * i + 1];
  }
  std::size_t bestStart = pieces.size();
  std::size_t bestLength = 1;  // a single zero piece is not compressed
  for (std::size_t i = 0; i < pieces.size();) {
    std::size_t j = i;
    while (j < pieces.size() && pieces[j] == 0) {
      ++j;
    }
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  std::string out;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i == bestStart) {
      out += i == 0 ? "::" : ":";
      i += bestLength - 1;
      continue;
    }
    std::array<char, 8> hex{};  // a piece is 16 bits: at most 4 digits
    const auto written = std::to_chars(hex.data(), hex.data() + hex.size(), pieces[i], 16);
    out.append(hex.data(), written.ptr);
    if (i + 1 < pieces.size()) {
      out += ':';
    }
  }
  return "[" + out + "]";
}

// A dotted-decimal IPv4 address, four parts of 0-255 without leading zeros
// (browsers read a leading zero as octal, so "010" would be another address).
bool isDottedQuad(std::string_view host) {
  const auto parts = labelsOf(host);
  return parts.size() == 4 && std::all_of(parts.begin(), parts.end(), [](std::string_view part) {
           return isDigits(part) && part.size() <= 3 && (part.size() == 1 || part[0] != '0') &&
                  std::stoi(std::string(part)) <= 255;
         });
}

// Checks a lower-case host that is neither bracketed nor a wildcard; returns a problem or "".
std::string hostProblem(std::string_view host, bool forWildcard) {
  if (host.empty()) {
    return "it has no host";
  }
  if (host.size() > 253) {
    return "its host is longer than 253 characters";
  }
  if (host.back() == '.') {
    return "its host ends with a dot (a browser treats \"example.com.\" as another origin)";
  }
  const auto labels = labelsOf(host);
  const std::string_view last = labels.back();
  if (isDigits(last) || last.starts_with("0x")) {
    // Browsers read a host ending in a number as an IPv4 address.
    if (forWildcard) {
      return "a wildcard needs a domain name, not an IP address";
    }
    return isDottedQuad(host) ? "" : "its host is not a dotted-decimal IPv4 address";
  }
  for (const std::string_view label : labels) {
    if (label.empty()) {
      return "its host has an empty label";
    }
    if (label.size() > 63) {
      return "its host has a label longer than 63 characters";
    }
    if (!std::all_of(label.begin(), label.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        })) {
      return "its host may hold only letters, digits, '-', '_' and dots";
    }
  }
  if (forWildcard && labels.size() < 2) {
    return "a wildcard must cover a domain of at least two labels (\"*." + std::string(host) +
           "\" would match a whole top-level domain)";
  }
  return "";
}

constexpr std::string_view kWildcardForm =
    "a wildcard must be the whole first label, as in \"https://*.corp.example\"";

Parsed parseWebOrigin(std::string_view text, bool allowWildcard) {
  if (text.size() > 2048) {
    return fail("it is longer than 2048 characters");
  }
  while (!text.empty() && isSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && isSpace(text.back())) {
    text.remove_suffix(1);
  }
  if (text.empty()) {
    return fail("it is empty");
  }
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      return fail("it contains whitespace or a control character");
    }
    if (byte >= 0x80) {
      return fail(
          "it contains a non-ASCII character (write an internationalized host in its "
          "punycode form, xn--...)");
    }
  }
  const auto schemeEnd = text.find("://");
  if (schemeEnd == std::string_view::npos) {
    if (text.find('*') != std::string_view::npos) {
      return fail(allowWildcard ? std::string(kWildcardForm)
                                : "only exact origins are allowed here, no wildcards");
    }
    return fail("an origin has the form scheme://host[:port], e.g. \"https://app.example\"");
  }
  WebOrigin origin;
  origin.scheme = lower(text.substr(0, schemeEnd));
  if (origin.scheme != "https" && origin.scheme != "http") {
    return fail("its scheme must be https or http");
  }
  std::string_view rest = text.substr(schemeEnd + 3);
  if (rest.find('@') != std::string_view::npos) {
    return fail("an origin has no user name or password");
  }
  if (const auto tail = rest.find_first_of("/?#\\"); tail != std::string_view::npos) {
    if (rest.substr(tail) != "/") {
      return fail("an origin has no path, query or fragment (the policy speaks of whole sites)");
    }
    rest.remove_suffix(1);  // one trailing "/": the origin is clear
  }

  std::string_view host = rest;
  std::optional<std::string_view> port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return fail("its IPv6 address has no closing ']'");
    }
    host = rest.substr(0, close + 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return fail("only a port may follow the host");
      }
      port = after.substr(1);
    }
  } else if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    if (rest.find(':', colon + 1) != std::string_view::npos) {
      return fail("an IPv6 address must be in brackets, e.g. \"https://[::1]\"");
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }

  if (port && !port->empty()) {  // an empty port is no port, as in browsers
    if (!isDigits(*port) || port->size() > 5) {
      return fail("its port is not a number from 1 to 65535");
    }
    const int value = std::stoi(std::string(*port));
    if (value < 1 || value > 65535) {
      return fail("its port is not a number from 1 to 65535");
    }
    const int defaultPort = origin.scheme == "https" ? 443 : 80;
    origin.port = value == defaultPort ? 0 : static_cast<std::uint16_t>(value);
  }

  std::string lowerHost = lower(host);
  if (lowerHost.starts_with('[')) {
    auto address = canonicalIpv6(lowerHost.substr(1, lowerHost.size() - 2));
    if (!address) {
      return fail("its host is not a valid IPv6 address");
    }
    origin.host = std::move(*address);
    return {origin, ""};
  }
  if (lowerHost.find('*') != std::string::npos) {
    if (!allowWildcard) {
      return fail("only exact origins are allowed here, no wildcards");
    }
    if (!lowerHost.starts_with("*.") || lowerHost.find('*', 1) != std::string::npos) {
      return fail(std::string(kWildcardForm));
    }
    origin.wildcard = true;
    lowerHost.erase(0, 2);
  }
  if (auto problem = hostProblem(lowerHost, origin.wildcard); !problem.empty()) {
    return fail(std::move(problem));
  }
  origin.host = std::move(lowerHost);
  return {origin, ""};
}

// Parses an entry that must be written canonically; throws with the reason.
WebOrigin requireCanonical(std::string_view entry, bool allowWildcard) {
  auto parsed = parseWebOrigin(entry, allowWildcard);
  if (!parsed.origin) {
    throw std::invalid_argument(quotedForMessage(entry, 200) +
                                " is not a valid origin: " + parsed.problem);
  }
  const std::string canonical = parsed.origin->text();
  if (canonical != entry) {
    throw std::invalid_argument(quotedForMessage(entry, 200) +
                                " is not a canonical origin; write " +
                                quotedForMessage(canonical, 2048));
  }
  return std::move(*parsed.origin);
}

}  // namespace

bool isValidOrigin(std::string_view origin) {
  // Schemes a browser reports for pages and extensions; host is a DNS name,
  // IPv4 or bracketed IPv6; optional port; no path, query, userinfo or spaces.
  static const std::regex kOrigin(
      R"(^(https?|chrome-extension|moz-extension)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$)");
  return origin.size() <= 512 && std::regex_match(origin.begin(), origin.end(), kOrigin);
}

bool isCanonicalWebOrigin(std::string_view origin) {
  const auto parsed = parseWebOrigin(origin, /*allowWildcard=*/false);
  return parsed.origin && parsed.origin->text() == origin;
}

std::optional<std::string> canonicalWebOrigin(std::string_view text) {
  const auto parsed = parseWebOrigin(text, /*allowWildcard=*/false);
  if (!parsed.origin) {
    return std::nullopt;
  }
  return parsed.origin->text();
}

void requireCanonicalWebOrigin(std::string_view entry) {
  (void)requireCanonical(entry, /*allowWildcard=*/false);
}

OriginPattern OriginPattern::parse(std::string_view entry) {
  WebOrigin origin = requireCanonical(entry, /*allowWildcard=*/true);
  OriginPattern pattern;
  pattern.text_ = std::string(entry);
  pattern.scheme_ = std::move(origin.scheme);
  pattern.host_ = std::move(origin.host);
  pattern.port_ = origin.port;
  pattern.wildcard_ = origin.wildcard;
  return pattern;
}

bool OriginPattern::matches(std::string_view origin) const {
  if (!wildcard_ && origin == text_) {
    return true;  // the usual case: the browser reports the canonical form
  }
  const auto parsed = parseWebOrigin(origin, /*allowWildcard=*/false);
  if (!parsed.origin || parsed.origin->scheme != scheme_ || parsed.origin->port != port_) {
    return false;
  }
  const std::string& host = parsed.origin->host;
  if (!wildcard_) {
    return host == host_;
  }
  // "*.corp.example" matches "a.corp.example" and "a.b.corp.example", never
  // "corp.example" itself nor "evilcorp.example": the suffix starts at a dot.
  return host.size() > host_.size() + 1 && host.ends_with(host_) &&
         host[host.size() - host_.size() - 1] == '.';
}

bool isPotentiallyTrustworthy(std::string_view origin) {
  if (origin.starts_with("https://")) {
    return true;
  }
  constexpr std::string_view kHttp = "http://";
  if (!origin.starts_with(kHttp)) {
    return false;
  }
  std::string_view host = origin.substr(kHttp.size());
  if (host.starts_with("[")) {
    return host.starts_with("[::1]");
  }
  host = host.substr(0, host.find(':'));
  // 127.0.0.0/8 as an address: "127.evil.example" is a name anyone can point anywhere.
  return host == "localhost" || host.ends_with(".localhost") ||
         (host.starts_with("127.") && isDottedQuad(host));
}

}  // namespace p2pcp::agent
