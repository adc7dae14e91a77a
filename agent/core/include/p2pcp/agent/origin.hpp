// SPDX-License-Identifier: Apache-2.0
#pragma once
// Web origins as browsers report them, and the administrator's origin patterns.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace p2pcp::agent {

// An origin a request may speak for, as the browser reports it:
// scheme://host[:port] with scheme https, http, chrome-extension or
// moz-extension, nothing else. Used to refuse anything that is not one before
// it reaches storage or a prompt.
bool isValidOrigin(std::string_view origin);

// A web origin exactly as a browser serializes it: scheme https or http, a
// lower-case host (DNS name, dotted-decimal IPv4, or bracketed IPv6 in its
// shortest form), a port only when it is not the scheme's default, and no
// trailing slash, path, query, fragment, user info or whitespace.
bool isCanonicalWebOrigin(std::string_view origin);

// The canonical form of a web origin written slightly differently: upper case,
// the default port spelled out, one trailing "/", surrounding whitespace, a long
// IPv6 form. nullopt when `text` is no web origin at all (a path, user info,
// another scheme, a wildcard, ...). Equal to `text` when it is canonical.
std::optional<std::string> canonicalWebOrigin(std::string_view text);

// Whether browsers treat the origin as potentially trustworthy (a secure
// context): https, or http on a loopback host (localhost and its subdomains,
// 127.0.0.0/8, [::1]). Anyone on the network path can pose as any other
// http origin. `origin` must be canonical.
bool isPotentiallyTrustworthy(std::string_view origin);

// Throws std::invalid_argument unless `entry` is a canonical web origin. The
// message quotes the entry and says why, e.g.
//   "https://App.example/" is not a canonical origin; write "https://app.example"
//   "https://app.example/path" is not a valid origin: an origin has no path, ...
void requireCanonicalWebOrigin(std::string_view entry);

// One entry of the administrator's origin lists: an exact canonical web origin,
// or the one wildcard form `scheme://*.domain[:port]`, which matches every
// origin of that scheme and port (no port: the scheme's default) whose host
// ends with ".domain" at a label boundary, but not `domain` itself. The domain
// must be a DNS name of at least two labels (so `https://*.com` is refused).
class OriginPattern {
 public:
  // Throws std::invalid_argument naming the entry and the reason, with the
  // canonical form to write where there is one (see requireCanonicalWebOrigin).
  static OriginPattern parse(std::string_view entry);

  // Whether the origin a request speaks for falls under this pattern. The
  // origin is compared in its canonical form, so a differently written origin
  // cannot slip past a block; anything that is no web origin never matches.
  [[nodiscard]] bool matches(std::string_view origin) const;

  [[nodiscard]] std::string text() const { return text_; }  // the entry as written (canonical)
  [[nodiscard]] bool isWildcard() const noexcept { return wildcard_; }

  friend bool operator==(const OriginPattern& a, const OriginPattern& b) {
    return a.text_ == b.text_;
  }

 private:
  OriginPattern() = default;

  std::string scheme_;
  std::string host_;        // exact: the host; wildcard: the domain after "*."
  std::uint16_t port_ = 0;  // 0: the scheme's default port
  bool wildcard_ = false;
  std::string text_;
};

}  // namespace p2pcp::agent
