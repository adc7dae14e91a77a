// SPDX-License-Identifier: Apache-2.0
// p2pcp install-browser-hosts: writes (or removes) the native-messaging host
// manifests through which Chrome, Chromium, Edge, Brave and Firefox find
// p2pcp-native-host. Chromium-family browsers want "allowed_origins",
// Firefox wants "allowed_extensions" and rejects unknown fields, so each
// family gets its own manifest in its own directories.
#include "browser_hosts.hpp"

#include <unistd.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/host/caller.hpp"

namespace p2pcp::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Location {
  std::string browser;
  bool firefox;
  fs::path dir;
};

std::string envOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): CLI, one thread
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::vector<Location> locations(const HostInstallOptions& options) {
  if (options.chromiumUserDataDir) {
    // A browser started with --user-data-dir looks only there for user-level hosts.
    return {{"chromium", false, *options.chromiumUserDataDir / "NativeMessagingHosts"}};
  }
  if (options.system) {
    return {{"chrome", false, "/etc/opt/chrome/native-messaging-hosts"},
            {"chromium", false, "/etc/chromium/native-messaging-hosts"},
            {"edge", false, "/etc/opt/edge/native-messaging-hosts"},
            {"brave", false, "/etc/opt/brave/native-messaging-hosts"},
            {"firefox", true, "/usr/lib/mozilla/native-messaging-hosts"}};
  }
  const fs::path home = envOr("HOME", "");
  if (home.empty()) {
    throw std::runtime_error("HOME is not set");
  }
  const fs::path config = envOr("XDG_CONFIG_HOME", (home / ".config").string());
  return {{"chrome", false, config / "google-chrome" / "NativeMessagingHosts"},
          {"chromium", false, config / "chromium" / "NativeMessagingHosts"},
          {"edge", false, config / "microsoft-edge" / "NativeMessagingHosts"},
          {"brave", false, config / "BraveSoftware" / "Brave-Browser" / "NativeMessagingHosts"},
          {"firefox", true, home / ".mozilla" / "native-messaging-hosts"}};
}

fs::path defaultHostProgram() {
  std::array<char, PATH_MAX> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) {
    throw std::runtime_error("cannot find this program's directory; give --host");
  }
  return fs::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path() /
         "p2pcp-native-host";
}

bool isChromiumId(const std::string& id) {
  return host::parseCaller(std::vector{"chrome-extension://" + id + "/"}).has_value();
}

json manifestFor(const Location& location, const fs::path& program,
                 const std::vector<std::string>& ids) {
  json manifest = {{"name", kHostName},
                   {"description", "p2pcp key agent: your p2pcp identity on a smartcard or token"},
                   {"path", program.string()},
                   {"type", "stdio"}};
  json allowed = json::array();
  for (const auto& id : ids) {
    if (location.firefox != isChromiumId(id)) {
      allowed.push_back(location.firefox ? id : "chrome-extension://" + id + "/");
    }
  }
  manifest[location.firefox ? "allowed_extensions" : "allowed_origins"] = allowed;
  return manifest;
}

// Written beside and renamed over, so a browser never reads half a manifest.
void writeAtomically(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  const fs::path temporary = file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text << '\n';
    if (!out.flush()) {
      throw std::runtime_error("cannot write " + temporary.string());
    }
  }
  fs::permissions(temporary, fs::perms::owner_read | fs::perms::owner_write |
                                 fs::perms::group_read | fs::perms::others_read);
  fs::rename(temporary, file);
}

}  // namespace

int installBrowserHosts(const Options& o, const HostInstallOptions& options) {
  fs::path program = options.hostProgram.value_or(defaultHostProgram());
  if (!program.is_absolute()) {
    program = fs::absolute(program);  // browsers require an absolute path
  }
  std::vector<std::string> ids = options.extensionIds;
  if (ids.empty()) {
    const auto policyFile = agent::Paths::fromEnvironment().policyFile;
    ids = host::allowedExtensionIds(agent::Policy::load(policyFile).allowedExtensions);
    // A release built without ids (native-messaging/CMakeLists.txt) has none
    // to fall back on: manifests that allow nobody would only hide the mistake.
    if (ids.empty() && !options.uninstall) {
      throw std::runtime_error("no extension ids: name them in allowedExtensions in " +
                               policyFile.string() + " or give --extension-id");
    }
  }
  if (!options.uninstall && ::access(program.c_str(), X_OK) != 0) {
    throw std::runtime_error(program.string() + " is not an executable program; give --host");
  }
  json report = json::array();
  for (const auto& location : locations(options)) {
    const fs::path file = location.dir / (std::string(kHostName) + ".json");
    if (options.uninstall) {
      std::error_code error;
      const bool removed = fs::remove(file, error);
      if (error) {
        throw std::runtime_error("cannot remove " + file.string() + ": " + error.message());
      }
      report.push_back(
          {{"browser", location.browser}, {"manifest", file.string()}, {"removed", removed}});
      continue;
    }
    writeAtomically(file, manifestFor(location, program, ids).dump(2));
    report.push_back(
        {{"browser", location.browser}, {"manifest", file.string()}, {"host", program.string()}});
  }
  if (o.json) {
    printJson(report);
  } else {
    for (const auto& entry : report) {
      std::cout << entry["browser"].get<std::string>() << ": "
                << (options.uninstall ? (entry["removed"].get<bool>() ? "removed " : "not present ")
                                      : "wrote ")
                << entry["manifest"].get<std::string>() << '\n';
    }
  }
  return kExitOk;
}

}  // namespace p2pcp::cli
