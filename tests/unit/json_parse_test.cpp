// SPDX-License-Identifier: Apache-2.0
// parseStrictJson: depth and duplicate keys refused while parsing, only valid
// UTF-8 JSON text, big strings intact.
#include "p2pcp/agent/json_parse.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace p2pcp::agent {
namespace {

using nlohmann::json;
using Kind = JsonParseError::Kind;

// The kind of error parsing `text` gives, and its message; nullopt kind when it parses.
struct Outcome {
  std::optional<Kind> kind;
  std::string message;
};

Outcome parseOutcome(std::string_view text, std::size_t maxDepth = kMaxJsonDepth) {
  try {
    (void)parseStrictJson(text, maxDepth);
    return {std::nullopt, ""};
  } catch (const JsonParseError& e) {
    return {e.kind(), e.what()};
  }
}

std::string repeat(std::string_view unit, std::size_t times) {
  std::string out;
  out.reserve(unit.size() * times);
  for (std::size_t i = 0; i < times; ++i) {
    out += unit;
  }
  return out;
}

std::string nestedArrays(std::size_t depth) {
  return repeat("[", depth) + repeat("]", depth);
}

std::string nestedObjects(std::size_t depth) {
  return repeat(R"({"a":)", depth - 1) + "{}" + repeat("}", depth - 1);
}

bool isPrintableAscii(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

TEST(StrictJson, ParsesOrdinaryDocumentsLikeNlohmann) {
  for (const char* text :
       {R"({"jsonrpc":"2.0","id":1,"method":"hello","params":{"a":[1,2.5,-3,true,null,"x"]}})",
        R"([])", R"({})", R"("just a string")", "42", "null", R"({"a":{"a":{"a":1}}})",
        R"([{"a":1},{"a":2}])", "  {\"spaced\" : [ 1 , 2 ] }  ", R"({"é":"snow ☃ 😀"})",
        "18446744073709551615", "-1.5e300"}) {
    EXPECT_EQ(parseStrictJson(text), json::parse(text)) << text;
  }
}

TEST(StrictJson, DepthExactlyAtTheLimitPassesOneDeeperFails) {
  EXPECT_FALSE(parseOutcome(nestedArrays(kMaxJsonDepth)).kind);
  EXPECT_EQ(parseOutcome(nestedArrays(kMaxJsonDepth + 1)).kind, Kind::TooDeep);
  EXPECT_FALSE(parseOutcome(nestedObjects(kMaxJsonDepth)).kind);
  EXPECT_EQ(parseOutcome(nestedObjects(kMaxJsonDepth + 1)).kind, Kind::TooDeep);
  // Scalars inside the deepest container add no depth.
  EXPECT_FALSE(
      parseOutcome(repeat("[", kMaxJsonDepth) + R"("x")" + repeat("]", kMaxJsonDepth)).kind);
  // Another limit is honoured the same way.
  EXPECT_FALSE(parseOutcome(nestedArrays(3), 3).kind);
  EXPECT_EQ(parseOutcome(nestedArrays(4), 3).kind, Kind::TooDeep);
  EXPECT_EQ(parseOutcome("[]", 0).kind, Kind::TooDeep);
  EXPECT_FALSE(parseOutcome("7", 0).kind);
  const auto deep = parseOutcome(nestedArrays(kMaxJsonDepth + 1));
  EXPECT_NE(deep.message.find("deeper than 32"), std::string::npos) << deep.message;
}

// A megabyte of nesting: plain parsing builds a million-level value whose copy or
// destruction recurses off the stack; this must stop at level 33, at once.
TEST(StrictJson, AMegabyteNestingAttackFailsFastWithoutCrashing) {
  constexpr std::size_t kBytes = std::size_t{1024} * 1024U;
  const std::vector<std::pair<const char*, std::string>> attacks{
      {"arrays", nestedArrays(kBytes / 2)},
      {"unclosed arrays", repeat("[", kBytes)},
      {"objects", repeat(R"({"a":)", kBytes / 5)},
      {"mixed", repeat(R"([{"a":)", kBytes / 6)},
      {"deep inside a request",
       R"({"jsonrpc":"2.0","id":1,"method":"seal","params":{"data":)" + repeat("[", kBytes)},
  };
  for (const auto& [name, text] : attacks) {
    const auto start = std::chrono::steady_clock::now();
    const auto outcome = parseOutcome(text);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(outcome.kind, Kind::TooDeep) << name;
    // It reads about 33 levels, not a megabyte: far under a millisecond even with
    // sanitizers; a generous bound keeps a loaded machine from flaking.
    EXPECT_LT(took, std::chrono::milliseconds(200)) << name;
  }
}

TEST(StrictJson, DuplicateKeysAreRefusedAtAnyLevel) {
  const auto top = parseOutcome(R"({"rawSigning": false, "rawSigning": true})");
  EXPECT_EQ(top.kind, Kind::DuplicateKey);
  EXPECT_NE(top.message.find(R"(duplicate key "rawSigning")"), std::string::npos) << top.message;

  const auto nested =
      parseOutcome(R"({"origins": {"block": ["https://evil.example"], "block": []}})");
  EXPECT_EQ(nested.kind, Kind::DuplicateKey);
  EXPECT_NE(nested.message.find(R"("block")"), std::string::npos) << nested.message;

  EXPECT_EQ(parseOutcome(R"([1, {"a": 1, "b": 2, "a": 1}])").kind, Kind::DuplicateKey);
  // The same key once escaped and once not is the same key.
  EXPECT_EQ(parseOutcome(R"({"a": 1, "\u0061": 2})").kind, Kind::DuplicateKey);
  // Keys differing in case are different keys.
  EXPECT_FALSE(parseOutcome(R"({"a": 1, "A": 2})").kind);
}

TEST(StrictJson, TheSameKeyInSiblingOrNestedObjectsIsFine) {
  EXPECT_FALSE(parseOutcome(R"([{"a": 1}, {"a": 2}])").kind);
  EXPECT_FALSE(parseOutcome(R"({"x": {"a": 1}, "y": {"a": 2}, "a": 3})").kind);
  EXPECT_FALSE(parseOutcome(R"({"a": {"a": {"a": 1}}})").kind);
  EXPECT_EQ(parseStrictJson(R"({"x": {"a": 1}, "y": {"a": 2}})")["y"]["a"], 2);
}

TEST(StrictJson, ADuplicateKeyIsNamedShortAndPrintable) {
  const std::string longKey(1000, 'k');
  const auto outcome = parseOutcome(R"({")" + longKey + R"(":1,")" + longKey + R"(":2})");
  ASSERT_EQ(outcome.kind, Kind::DuplicateKey);
  EXPECT_NE(outcome.message.find(std::string(64, 'k') + "...\""), std::string::npos);
  EXPECT_EQ(outcome.message.find(std::string(65, 'k')), std::string::npos) << outcome.message;

  // A control character in the key cannot forge a log line.
  const auto control = parseOutcome(R"({"a\nb":1,"a\nb":2})");
  ASSERT_EQ(control.kind, Kind::DuplicateKey);
  EXPECT_EQ(control.message.find('\n'), std::string::npos);
  EXPECT_NE(control.message.find(R"("a\nb")"), std::string::npos) << control.message;

  // Shortening never splits a UTF-8 character: the message stays valid UTF-8.
  std::string wide;
  for (int i = 0; i < 40; ++i) {
    wide += "é";  // 2 bytes each
  }
  wide = "x" + wide;  // so that byte 64 falls inside a character
  const auto utf8 = parseOutcome(R"({")" + wide + R"(":1,")" + wide + R"(":2})");
  ASSERT_EQ(utf8.kind, Kind::DuplicateKey);
  EXPECT_NO_THROW((void)json(utf8.message).dump()) << "dump() throws on invalid UTF-8";
}

TEST(StrictJson, InvalidUtf8AndTrailingDataAreSyntaxErrors) {
  for (const std::string& text : {
           std::string("\"\xff\""),             // not UTF-8 at all
           std::string("\"\xc0\xaf\""),         // overlong encoding of '/'
           std::string("\"\xed\xa0\x80\""),     // an encoded surrogate
           std::string("\"\xe2\x82\""),         // truncated sequence
           std::string("{\"k\xfe\":1}"),        // in a key
           std::string(R"("\ud800")"),          // a lone surrogate escape
           std::string("{} x"),                 // trailing garbage
           std::string("{}{}"),                 // two documents
           std::string("1 2"),                  //
           std::string(""),                     // nothing
           std::string("   "),                  //
           std::string("/* comment */ {}"),     // comments are not JSON
           std::string("[1,]"),                 // trailing comma
           std::string("{'a': 1}"),             // single quotes
           std::string("NaN"),                  //
           std::string("[1, 2"),                // truncated
           std::string("\"a\x01z\""),           // a raw control character in a string
           std::string("{\"a\":1}\0junk", 12),  // nlohmann alone stops at a NUL
       }) {
    const auto outcome = parseOutcome(text);
    EXPECT_EQ(outcome.kind, Kind::Syntax)
        << json(text).dump(-1, ' ', true, json::error_handler_t::replace);
    // The message never echoes raw input bytes.
    EXPECT_TRUE(isPrintableAscii(outcome.message)) << outcome.message;
  }
  const auto trailing = parseOutcome("{} x");
  EXPECT_NE(trailing.message.find("invalid JSON"), std::string::npos) << trailing.message;
}

TEST(StrictJson, BigStringsWork) {
  std::string data(std::size_t{16} * 1024U * 1024U, 'A');
  for (std::size_t i = 0; i < data.size(); i += 7) {
    data[i] = 'z';
  }
  const std::string text = json{{"params", {{"data", data}}}}.dump();
  const json parsed = parseStrictJson(text);
  EXPECT_EQ(parsed["params"]["data"].get_ref<const std::string&>(), data);
}

TEST(QuotedForMessage, QuotesEscapesAndShortens) {
  EXPECT_EQ(quotedForMessage("abc"), R"("abc")");
  EXPECT_EQ(quotedForMessage("a\"b\n"), R"("a\"b\n")");
  EXPECT_EQ(quotedForMessage(std::string(70, 'x'), 4), R"("xxxx...")");
  EXPECT_EQ(quotedForMessage("\xff"), "\"\xef\xbf\xbd\"") << "invalid UTF-8 becomes U+FFFD";
}

}  // namespace
}  // namespace p2pcp::agent
