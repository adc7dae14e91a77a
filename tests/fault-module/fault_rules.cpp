// SPDX-License-Identifier: Apache-2.0
#include "fault_rules.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "pkcs11_names.hpp"

namespace p2pcp::testing::fault {

namespace {

using nlohmann::json;

constexpr auto kKeys = std::to_array<std::string_view>(
    {"call", "rv", "flags", "tokenPresent", "reset", "delayMs", "hang", "abort", "skip", "times"});
constexpr long long kMaxDelayMs = 600000;

// Reads one rule; `where` ("rule 3") prefixes every message.
class RuleReader {
 public:
  RuleReader(const json& object, std::string where) : object_(object), where_(std::move(where)) {}

  [[nodiscard]] Rule read() const {
    if (!object_.is_object()) {
      fail("is not a JSON object");
    }
    for (const auto& [key, value] : object_.items()) {
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        fail("has an unknown member \"" + key + "\"");
      }
    }
    Rule rule;
    const auto call = callNamed(string("call").value_or(""));
    if (!call) {
      fail(R"(needs "call": the name of a PKCS#11 2.40 function, e.g. "C_Sign")");
    }
    rule.call = *call;
    rule.rv = returnCode();
    rule.flags = flags();
    if (const auto present = boolean("tokenPresent")) {
      if (*present) {
        fail("\"tokenPresent\" can only be false (a changed rules file brings the token back)");
      }
      rule.tokenAbsent = true;
    }
    rule.reset = boolean("reset").value_or(false);
    rule.delay = std::chrono::milliseconds(integer("delayMs", 0, kMaxDelayMs).value_or(0));
    rule.hang = boolean("hang").value_or(false);
    rule.abort = boolean("abort").value_or(false);
    rule.skip = static_cast<unsigned long>(integer("skip", 0, 1'000'000'000).value_or(0));
    if (const auto times = integer("times", 1, 1'000'000'000)) {
      rule.times = static_cast<unsigned long>(*times);
    }
    if (!rule.rv && rule.flags == 0 && !rule.tokenAbsent && !rule.reset &&
        rule.delay.count() == 0 && !rule.hang && !rule.abort) {
      fail("does nothing: give it rv, flags, tokenPresent, reset, delayMs, hang or abort");
    }
    return rule;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw RulesError(where_ + " " + problem);
  }

  [[nodiscard]] const json* member(const char* key) const {
    const auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  [[nodiscard]] std::optional<std::string> string(const char* key) const {
    const json* value = member(key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_string()) {
      fail(std::string("\"") + key + "\" must be a string");
    }
    return value->get<std::string>();
  }

  [[nodiscard]] std::optional<bool> boolean(const char* key) const {
    const json* value = member(key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_boolean()) {
      fail(std::string("\"") + key + "\" must be true or false");
    }
    return value->get<bool>();
  }

  [[nodiscard]] std::optional<long long> integer(const char* key, long long min,
                                                 long long max) const {
    const json* value = member(key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_number_integer() || value->get<long long>() < min ||
        value->get<long long>() > max) {
      fail(std::string("\"") + key + "\" must be an integer from " + std::to_string(min) + " to " +
           std::to_string(max));
    }
    return value->get<long long>();
  }

  [[nodiscard]] std::optional<CK_RV> returnCode() const {
    const json* value = member("rv");
    if (value == nullptr) {
      return std::nullopt;
    }
    if (value->is_number_unsigned()) {
      return value->get<CK_RV>();
    }
    if (value->is_string()) {
      if (const auto rv = returnCodeNamed(value->get<std::string>())) {
        return rv;
      }
    }
    fail(R"("rv" must name a PKCS#11 return code ("CKR_DEVICE_REMOVED") or be a number)");
  }

  [[nodiscard]] CK_FLAGS flags() const {
    const json* value = member("flags");
    if (value == nullptr) {
      return 0;
    }
    if (!value->is_array() || value->empty()) {
      fail("\"flags\" must be a non-empty array of token flag names");
    }
    CK_FLAGS flags = 0;
    for (const auto& name : *value) {
      const auto flag = name.is_string() ? tokenFlagNamed(name.get<std::string>()) : std::nullopt;
      if (!flag) {
        fail("\"flags\" holds " + name.dump() + ", which is not a CK_TOKEN_INFO flag name");
      }
      flags |= *flag;
    }
    return flags;
  }

  const json& object_;
  std::string where_;
};

}  // namespace

std::vector<Rule> parseRules(std::string_view text) {
  const auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) {
    return {};
  }
  std::vector<Rule> rules;
  if (text[start] == '[') {
    const json array = json::parse(text, nullptr, false);
    if (array.is_discarded() || !array.is_array()) {
      throw RulesError("the rules file is not a valid JSON array");
    }
    for (std::size_t i = 0; i < array.size(); ++i) {
      rules.push_back(RuleReader(array[i], "rule " + std::to_string(i + 1)).read());
    }
    return rules;
  }
  std::size_t lineNumber = 0;
  for (std::size_t from = 0; from <= text.size();) {
    const auto end = std::min(text.find('\n', from), text.size());
    const std::string_view line = text.substr(from, end - from);
    from = end + 1;
    ++lineNumber;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
      continue;
    }
    const std::string where = "line " + std::to_string(lineNumber);
    const json object = json::parse(line, nullptr, false);
    if (object.is_discarded()) {
      throw RulesError(where + " is not valid JSON");
    }
    rules.push_back(RuleReader(object, where).read());
  }
  return rules;
}

}  // namespace p2pcp::testing::fault
