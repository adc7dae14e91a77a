// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/extension_id.hpp"

#include <algorithm>
#include <cstddef>

namespace p2pcp::agent {

namespace {

bool isHexDigit(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Firefox's add-on id characters around the '@' (case-insensitive, as Firefox).
bool isAddOnIdChar(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool isGuid(std::string_view id) noexcept {
  // {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}
  constexpr std::string_view kShape = "{........-....-....-....-............}";
  if (id.size() != kShape.size()) {
    return false;
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (kShape[i] == '.' ? !isHexDigit(id[i]) : id[i] != kShape[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool isChromiumExtensionId(std::string_view id) noexcept {
  return id.size() == 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c >= 'a' && c <= 'p'; });
}

bool isFirefoxAddOnId(std::string_view id) noexcept {
  if (id.empty() || id.size() > 255) {
    return false;
  }
  if (id.front() == '{') {
    return isGuid(id);
  }
  const auto at = id.find('@');
  if (at == std::string_view::npos) {
    return false;
  }
  const std::string_view name = id.substr(0, at);
  const std::string_view domain = id.substr(at + 1);
  return !domain.empty() && std::all_of(name.begin(), name.end(), isAddOnIdChar) &&
         std::all_of(domain.begin(), domain.end(), isAddOnIdChar);
}

}  // namespace p2pcp::agent
