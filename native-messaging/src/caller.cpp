// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/host/caller.hpp"

#include <algorithm>
#include <string_view>

#include "p2pcp/agent/extension_id.hpp"
#include "p2pcp/host/extension_ids.hpp"

namespace p2pcp::host {

namespace {

constexpr std::string_view kChromiumScheme = "chrome-extension://";

}  // namespace

std::optional<BrowserCaller> parseCaller(std::span<const std::string> args) {
  if (args.empty()) {
    return std::nullopt;
  }
  const std::string_view first = args[0];
  if (first.starts_with(kChromiumScheme)) {
    std::string_view id = first.substr(kChromiumScheme.size());
    if (id.ends_with('/')) {
      id.remove_suffix(1);
    }
    if (!agent::isChromiumExtensionId(id)) {
      return std::nullopt;
    }
    return BrowserCaller{Browser::Chromium, std::string(id)};
  }
  // Firefox: <path to the host manifest> <add-on id>
  if (args.size() >= 2 && first.ends_with(".json") && agent::isFirefoxAddOnId(args[1])) {
    return BrowserCaller{Browser::Firefox, args[1]};
  }
  return std::nullopt;
}

std::vector<std::string> allowedExtensionIds(const std::vector<std::string>& fromPolicy) {
  if (!fromPolicy.empty()) {
    return fromPolicy;
  }
  std::vector<std::string> ids;
  std::string_view builtIn = P2PCP_EXTENSION_IDS;
  while (!builtIn.empty()) {
    const auto end = builtIn.find(';');
    const auto id = builtIn.substr(0, end);
    if (!id.empty()) {
      ids.emplace_back(id);
    }
    builtIn = end == std::string_view::npos ? std::string_view() : builtIn.substr(end + 1);
  }
  return ids;
}

bool isAllowed(const BrowserCaller& caller, const std::vector<std::string>& allowed) {
  return std::find(allowed.begin(), allowed.end(), caller.extensionId) != allowed.end();
}

}  // namespace p2pcp::host
