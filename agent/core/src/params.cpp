// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/params.hpp"

#include <algorithm>
#include <charconv>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/common/encoding.hpp"

namespace p2pcp::agent {

namespace {
const nlohmann::json kEmpty = nlohmann::json::object();

std::string paramName(std::string_view name) {
  return "\"" + std::string(name) + "\"";
}
}  // namespace

Params::Params(const nlohmann::json& params, std::initializer_list<std::string_view> allowed)
    : params_(params.is_null() ? kEmpty : params) {
  if (!params_.is_object()) {
    badRequest("params must be an object");
  }
  for (const auto& [key, value] : params_.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      badRequest("unknown parameter " + paramName(key.substr(0, 64)));
    }
  }
}

bool Params::has(std::string_view name) const {
  const auto it = params_.find(name);
  return it != params_.end() && !it->is_null();
}

const nlohmann::json& Params::get(std::string_view name) const {
  const auto it = params_.find(name);
  if (it == params_.end() || it->is_null()) {
    badRequest("missing parameter " + paramName(name));
  }
  return *it;
}

std::string Params::string(std::string_view name, std::size_t maxLength) const {
  const auto& value = get(name);
  if (!value.is_string()) {
    badRequest("parameter " + paramName(name) + " must be a string");
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty() || text.size() > maxLength) {
    badRequest("parameter " + paramName(name) + " must be 1 to " + std::to_string(maxLength) +
               " bytes");
  }
  return text;
}

std::optional<std::string> Params::optionalString(std::string_view name,
                                                  std::size_t maxLength) const {
  if (!has(name)) {
    return std::nullopt;
  }
  return string(name, maxLength);
}

Bytes Params::base64(std::string_view name, std::size_t minBytes, std::size_t maxBytes) const {
  const auto& value = get(name);
  if (!value.is_string()) {
    badRequest("parameter " + paramName(name) + " must be a base64 string");
  }
  auto bytes = fromBase64(value.get_ref<const std::string&>());
  if (!bytes) {
    badRequest("parameter " + paramName(name) + " is not valid base64");
  }
  if (bytes->size() < minBytes || bytes->size() > maxBytes) {
    badRequest("parameter " + paramName(name) + " has the wrong length");
  }
  return std::move(*bytes);
}

Bytes Params::hex(std::string_view name, std::size_t exactBytes) const {
  const auto& value = get(name);
  if (!value.is_string()) {
    badRequest("parameter " + paramName(name) + " must be a hex string");
  }
  auto bytes = fromHex(value.get_ref<const std::string&>());
  if (!bytes || bytes->size() != exactBytes) {
    badRequest("parameter " + paramName(name) + " must be " + std::to_string(exactBytes * 2) +
               " hex digits");
  }
  return std::move(*bytes);
}

std::uint64_t Params::u64(std::string_view name) const {
  const auto& value = get(name);
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>();
  }
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    std::uint64_t out = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec == std::errc{} && end == text.data() + text.size() && !text.empty()) {
      return out;
    }
  }
  badRequest("parameter " + paramName(name) + " must be a non-negative integer");
}

}  // namespace p2pcp::agent
