// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one JSON parser for everything that reads untrusted or administrator
// JSON (requests, browser messages, policy, settings, consents).
//
// Plain nlohmann::json::parse accepts two things we must not: nesting as deep
// as the input is long (its parser is iterative, but copying or destroying a
// deep value recurses, so a 40 KB "[[[[...]]]]" overflows the stack later) and
// the same key twice in one object (the last one silently wins, so a
// `"rawSigning": true` further down a policy overrides the administrator's
// `false`). parseStrictJson refuses both while parsing, before anything deep
// is built.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace p2pcp::agent {

// A request or a config file needs far less; deep enough for any real params.
inline constexpr std::size_t kMaxJsonDepth = 32;

class JsonParseError : public std::runtime_error {
 public:
  enum class Kind {
    Syntax,        // not one valid UTF-8 JSON text (also: trailing data, bad escapes)
    TooDeep,       // objects and arrays nested deeper than allowed
    DuplicateKey,  // one object names the same key twice
  };
  JsonParseError(Kind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// Parses one JSON document strictly: valid UTF-8 JSON text only (no comments,
// no trailing data; a leading UTF-8 byte-order mark is skipped as RFC 8259
// allows), objects and arrays nested at most maxDepth deep (`[]` is depth 1;
// checked as each one opens, so an attack costs maxDepth steps), no key twice
// in one object. Throws JsonParseError with a short, printable message naming
// the problem (for a duplicate key: the key, shortened to 64 bytes).
nlohmann::json parseStrictJson(std::string_view text, std::size_t maxDepth = kMaxJsonDepth);

// `text` as a quoted JSON string for an error message or a log line: control
// characters escaped, cut to at most maxBytes of text at a UTF-8 character
// boundary (marked with "..."), so a hostile value can neither forge lines nor
// flood them, and the message stays valid UTF-8 for a JSON-RPC reply.
std::string quotedForMessage(std::string_view text, std::size_t maxBytes = 64);

}  // namespace p2pcp::agent
