// SPDX-License-Identifier: Apache-2.0
#include "config_fields.hpp"

#include <algorithm>
#include <stdexcept>

namespace p2pcp::agent {

using nlohmann::json;

FieldReader::FieldReader(const json& object, const std::filesystem::path& file, std::string prefix)
    : object_(object), file_(file), prefix_(std::move(prefix)) {}

void FieldReader::allowOnly(std::initializer_list<std::string_view> names) const {
  for (const auto& [key, value] : object_.items()) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      fail("unknown field " + json(path(key)).dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
}

bool FieldReader::boolean(const char* name) const {
  const json& value = object_.at(name);
  if (!value.is_boolean()) {
    wrongType(path(name), "true or false", value);
  }
  return value.get<bool>();
}

std::string FieldReader::string(const char* name) const {
  const json& value = object_.at(name);
  if (!value.is_string()) {
    wrongType(path(name), "a string", value);
  }
  return value.get<std::string>();
}

std::chrono::seconds FieldReader::seconds(const char* name, long long max) const {
  const json& value = object_.at(name);
  if (!value.is_number_integer()) {
    wrongType(path(name), "a whole number of seconds", value);
  }
  // Unsigned values above the signed range are out of range too, not wrapped.
  if (value.is_number_unsigned() &&
      value.get<unsigned long long>() > static_cast<unsigned long long>(max)) {
    fail("\"" + path(name) + "\" must be 0 to " + std::to_string(max) + " seconds");
  }
  const auto seconds = value.get<long long>();
  if (seconds < 0 || seconds > max) {
    fail("\"" + path(name) + "\" must be 0 to " + std::to_string(max) + " seconds");
  }
  return std::chrono::seconds(seconds);
}

std::uint16_t FieldReader::port(const char* name) const {
  const json& value = object_.at(name);
  if (!value.is_number_integer()) {
    wrongType(path(name), "a port number", value);
  }
  if (value.is_number_unsigned() && value.get<unsigned long long>() <= 65535U &&
      value.get<unsigned long long>() >= 1U) {
    return static_cast<std::uint16_t>(value.get<unsigned long long>());
  }
  fail("\"" + path(name) + "\" must be a port from 1 to 65535");
}

const json& FieldReader::array(const char* name) const {
  const json& value = object_.at(name);
  if (!value.is_array()) {
    wrongType(path(name), "an array", value);
  }
  return value;
}

std::vector<std::string> FieldReader::strings(const char* name) const {
  std::vector<std::string> out;
  const json& list = array(name);
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) {
      wrongType(path(name) + "[" + std::to_string(i) + "]", "a string", list[i]);
    }
    out.push_back(list[i].get<std::string>());
  }
  return out;
}

FieldReader FieldReader::object(const char* name) const {
  const json& value = object_.at(name);
  if (!value.is_object()) {
    wrongType(path(name), "an object", value);
  }
  return {value, file_, path(name)};
}

std::string FieldReader::path(std::string_view name) const {
  return prefix_.empty() ? std::string(name) : prefix_ + "." + std::string(name);
}

void FieldReader::fail(const std::string& message) const {
  throw std::runtime_error(file_.string() + ": " + message);
}

void FieldReader::wrongType(std::string_view fieldPath, std::string_view expected,
                            const json& value) const {
  // The value as written, cut short: the administrator finds it at once.
  std::string shown = value.dump();
  if (shown.size() > 80) {
    shown = shown.substr(0, 77) + "...";
  }
  fail("field \"" + std::string(fieldPath) + "\" has the wrong type (expected " +
       std::string(expected) + ", found " + shown + ")");
}

}  // namespace p2pcp::agent
