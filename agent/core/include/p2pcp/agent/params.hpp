// SPDX-License-Identifier: Apache-2.0
#pragma once
// Strict reading of a request's params: unknown names, wrong types and
// malformed encodings are BAD_REQUEST errors that name the parameter.

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp::agent {

class Params {
 public:
  // params must be an object (or null/absent, read as {}); names outside `allowed` are refused.
  Params(const nlohmann::json& params, std::initializer_list<std::string_view> allowed);

  [[nodiscard]] bool has(std::string_view name) const;
  // Strings are limited to maxLength bytes (default 4 KiB) and must not be empty.
  [[nodiscard]] std::string string(std::string_view name, std::size_t maxLength = 4096) const;
  [[nodiscard]] std::optional<std::string> optionalString(std::string_view name,
                                                          std::size_t maxLength = 4096) const;
  [[nodiscard]] Bytes base64(std::string_view name, std::size_t minBytes = 0,
                             std::size_t maxBytes = SIZE_MAX) const;
  [[nodiscard]] Bytes hex(std::string_view name, std::size_t exactBytes) const;
  // A non-negative integer: a JSON number up to 2^53, or a decimal string for the full u64 range.
  [[nodiscard]] std::uint64_t u64(std::string_view name) const;

 private:
  [[nodiscard]] const nlohmann::json& get(std::string_view name) const;
  const nlohmann::json& params_;
};

}  // namespace p2pcp::agent
