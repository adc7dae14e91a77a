// SPDX-License-Identifier: Apache-2.0
#pragma once
// p2pcp doctor's browser checks: where each browser looks for the host's
// manifest and for its administrator's policies (the real Linux paths), and
// what those policies say about native messaging.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "doctor.hpp"

namespace p2pcp::cli::doctor {

// A directory a browser reads host manifests from.
struct ManifestLocation {
  std::string id;  // "user.chrome", "system.chromium", ...: the check is "manifest.<id>"
  bool firefox = false;
  bool system = false;
  std::filesystem::path dir;
};

struct BrowserInfo {
  std::string id;    // chrome, chromium, edge, brave, firefox
  std::string name;  // as people call it
  bool firefox = false;
  std::vector<std::string> locations;  // ManifestLocation ids, in the order the browser reads them
  std::vector<std::filesystem::path> programs;  // any of these installed means the browser is
  std::filesystem::path policyDir;  // Chromium family: managed policies (*.json); empty for Firefox
};

std::vector<ManifestLocation> manifestLocations();
std::vector<BrowserInfo> browsers();

// What a Chromium-family browser's managed policies say about our host.
struct ChromiumPolicy {
  std::optional<std::filesystem::path> blockedBy;  // NativeMessagingBlocklist with * or our host
  bool allowlisted = false;                        // NativeMessagingAllowlist names our host
  std::optional<std::filesystem::path> allowlistFile;   // a file that sets NativeMessagingAllowlist
  std::optional<std::filesystem::path> userLevelOffBy;  // NativeMessagingUserLevelHosts: false
  std::vector<std::string> unreadable;                  // files the browser cannot use either
  std::vector<std::string> files;
};

ChromiumPolicy readChromiumPolicy(const std::filesystem::path& dir);

// The policy check of one browser. `userOnly`: a user manifest exists but no
// usable system one; `userManifest` names it.
Check chromiumPolicyCheck(const BrowserInfo& browser, const ChromiumPolicy& policy, bool userOnly,
                          const std::string& userManifest);
Check firefoxPolicyCheck(const std::vector<std::string>& firefoxIds);

}  // namespace p2pcp::cli::doctor
