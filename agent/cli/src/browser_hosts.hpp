// SPDX-License-Identifier: Apache-2.0
#pragma once
// The native-messaging host manifests (p2pcp install-browser-hosts).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"

namespace p2pcp::cli {

// The host's name in every browser's manifest directory.
inline constexpr const char* kHostName = "dev.p2pcp.agent";

struct HostInstallOptions {
  bool system = false;     // for every user (needs root), else for this user
  bool uninstall = false;  // remove the manifests instead
  std::optional<std::filesystem::path> hostProgram;  // default: beside this program
  std::vector<std::string> extensionIds;             // default: the policy's, else the built-in ids
  // Only this Chromium profile directory (a browser run with --user-data-dir).
  std::optional<std::filesystem::path> chromiumUserDataDir;
};

int installBrowserHosts(const Options& o, const HostInstallOptions& options);

}  // namespace p2pcp::cli
