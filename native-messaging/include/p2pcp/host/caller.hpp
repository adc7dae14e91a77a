// SPDX-License-Identifier: Apache-2.0
#pragma once
// Who started the host. Browsers pass the calling extension on the command
// line: Chromium-family browsers the extension origin
// ("chrome-extension://<id>/", on Windows followed by --parent-window=N),
// Firefox the path of the host manifest and the add-on id.

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace p2pcp::host {

enum class Browser { Chromium, Firefox };

struct BrowserCaller {
  Browser browser;
  std::string extensionId;  // Chromium: 32 letters a-p; Firefox: the add-on id
};

// nullopt when the arguments name no extension in either browser's form.
std::optional<BrowserCaller> parseCaller(std::span<const std::string> args);

// The extension ids this host serves: the policy's list when it has one, else
// the ids built in at compile time (P2PCP_EXTENSION_IDS).
std::vector<std::string> allowedExtensionIds(const std::vector<std::string>& fromPolicy);

[[nodiscard]] bool isAllowed(const BrowserCaller& caller, const std::vector<std::string>& allowed);

}  // namespace p2pcp::host
