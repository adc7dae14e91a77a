// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reading the fields of one JSON object of a settings or policy file strictly.
// Every error names the file and the field's path ("origins.allow[1]"). Internal
// to the protocol library (config.cpp, origin_rules.cpp).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "p2pcp/agent/config.hpp"

namespace p2pcp::agent {

class FieldReader {
 public:
  // `prefix`: the path of this object in the file ("" for the top level).
  FieldReader(const nlohmann::json& object, const std::filesystem::path& file, std::string prefix);

  // Throws for a field not in `names` (a typo must not turn a rule off silently).
  void allowOnly(std::initializer_list<std::string_view> names) const;

  [[nodiscard]] bool has(const char* name) const { return object_.contains(name); }
  [[nodiscard]] bool boolean(const char* name) const;
  [[nodiscard]] std::string string(const char* name) const;
  [[nodiscard]] std::chrono::seconds seconds(const char* name, long long max) const;
  // A TCP port, 1 to 65535.
  [[nodiscard]] std::uint16_t port(const char* name) const;
  [[nodiscard]] std::vector<std::string> strings(const char* name) const;
  [[nodiscard]] const nlohmann::json& array(const char* name) const;
  [[nodiscard]] FieldReader object(const char* name) const;

  // "origins.allow" for name "allow" under prefix "origins".
  [[nodiscard]] std::string path(std::string_view name) const;
  // Throws std::runtime_error("<file>: <message>").
  [[noreturn]] void fail(const std::string& message) const;

 private:
  [[noreturn]] void wrongType(std::string_view fieldPath, std::string_view expected,
                              const nlohmann::json& value) const;

  const nlohmann::json& object_;
  const std::filesystem::path& file_;
  std::string prefix_;
};

// The policy's "origins" object (docs/configuration.md).
OriginRules readOriginRules(const FieldReader& origins);

}  // namespace p2pcp::agent
