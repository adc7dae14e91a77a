// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/json_parse.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace p2pcp::agent {

using nlohmann::json;

namespace {

// nlohmann's message, e.g. "[json.exception.parse_error.101] parse error at line 1,
// column 4: syntax error while parsing value - invalid literal; last read: '[tru'",
// without the library's tag and without the bytes it last read: those come from the
// input and may be anything, and the message must stay short and printable.
std::string syntaxMessage(const std::string& what) {
  std::string_view text = what;
  if (text.starts_with("[json.exception.")) {
    const auto close = text.find("] ");
    if (close != std::string_view::npos) {
      text.remove_prefix(close + 2);
    }
  }
  if (const auto lastRead = text.find("; last read:"); lastRead != std::string_view::npos) {
    text = text.substr(0, lastRead);
  }
  std::string message = "invalid JSON: ";
  for (const char c : text.substr(0, 200)) {
    const auto byte = static_cast<unsigned char>(c);
    message.push_back(byte >= 0x20 && byte < 0x7f ? c : '?');
  }
  return message;
}

// Builds the document as nlohmann's own DOM parser does (a stack of the open
// containers), and refuses depth and duplicate keys at the event that would
// create them. The duplicate check is the object's own insert, so it costs
// nothing beyond what building the object costs anyway.
class StrictDomBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  StrictDomBuilder(json& root, std::size_t maxDepth) : root_(root), maxDepth_(maxDepth) {
    open_.reserve(std::min<std::size_t>(maxDepth, kMaxJsonDepth));
  }

  // The SAX interface nlohmann's parser calls (nlohmann::json_sax): its names,
  // and binary() stays a member like the other callbacks although it uses no state.
  // NOLINTBEGIN(readability-identifier-naming,readability-convert-member-functions-to-static)
  bool null() { return add(nullptr); }
  bool boolean(bool value) { return add(value); }
  bool number_integer(number_integer_t value) { return add(value); }
  bool number_unsigned(number_unsigned_t value) { return add(value); }
  bool number_float(number_float_t value, const string_t& /*text*/) { return add(value); }
  // Moved, not copied: a 16 MiB base64 string is built once.
  bool string(string_t& value) { return add(std::move(value)); }
  bool binary(binary_t& /*value*/) {
    throw JsonParseError(JsonParseError::Kind::Syntax, "invalid JSON: binary value");
  }

  bool start_object(std::size_t /*elements*/) { return open(json::value_t::object); }
  bool start_array(std::size_t /*elements*/) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& name) {
    auto& object = open_.back()->get_ref<json::object_t&>();
    auto [slot, inserted] = object.try_emplace(std::move(name));
    if (!inserted) {
      throw JsonParseError(JsonParseError::Kind::DuplicateKey,
                           "invalid JSON: duplicate key " + quotedForMessage(slot->first));
    }
    member_ = &slot->second;
    return true;
  }

  template <class Exception>
  bool parse_error(std::size_t /*position*/, const std::string& /*lastToken*/,
                   const Exception& error) {
    throw JsonParseError(JsonParseError::Kind::Syntax, syntaxMessage(error.what()));
  }
  // NOLINTEND(readability-identifier-naming,readability-convert-member-functions-to-static)

 private:
  template <typename Value>
  json* place(Value&& value) {
    if (open_.empty()) {
      root_ = json(std::forward<Value>(value));
      return &root_;
    }
    json* container = open_.back();
    if (container->is_array()) {
      auto& array = container->get_ref<json::array_t&>();
      array.emplace_back(std::forward<Value>(value));
      return &array.back();
    }
    *member_ = json(std::forward<Value>(value));
    return member_;
  }

  template <typename Value>
  bool add(Value&& value) {
    place(std::forward<Value>(value));
    return true;
  }

  bool open(json::value_t type) {
    if (open_.size() >= maxDepth_) {
      throw JsonParseError(
          JsonParseError::Kind::TooDeep,
          "invalid JSON: nested deeper than " + std::to_string(maxDepth_) + " levels");
    }
    open_.push_back(place(type));
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  json& root_;
  std::size_t maxDepth_;
  std::vector<json*> open_;  // the containers being filled, outermost first
  json* member_ = nullptr;   // the object member the next value goes to
};

}  // namespace

json parseStrictJson(std::string_view text, std::size_t maxDepth) {
  // nlohmann's lexer takes a NUL byte for the end of the input, so "{}\0junk" would
  // pass as "{}". No valid JSON text holds a raw NUL (inside a string it must be
  // escaped), so refusing any is exact.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    throw JsonParseError(JsonParseError::Kind::Syntax,
                         "invalid JSON: a NUL byte at offset " + std::to_string(nul));
  }
  json root;
  StrictDomBuilder builder(root, maxDepth);
  // strict = true: trailing data after the document is an error; comments are not JSON.
  if (!json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json,
                       /*strict=*/true, /*ignore_comments=*/false)) {
    // Not reached: the builder throws instead of returning false; kept so that a
    // future change there cannot turn a failed parse into a half-built document.
    throw JsonParseError(JsonParseError::Kind::Syntax, "invalid JSON");
  }
  return root;
}

std::string quotedForMessage(std::string_view text, std::size_t maxBytes) {
  std::string shown;
  if (text.size() <= maxBytes) {
    shown = text;
  } else {
    std::size_t cut = maxBytes;
    // Step back over UTF-8 continuation bytes so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
      --cut;
    }
    shown = text.substr(0, cut);
    shown += "...";
  }
  // dump() escapes control characters; `replace` turns any invalid UTF-8 into U+FFFD.
  return json(shown).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace p2pcp::agent
