// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor: browser policies that keep pages from the host. Chromium,
// Chrome, Edge and Brave read every *.json in their managed policy directory;
// NativeMessagingBlocklist ["*"] (or naming our host) blocks it unless
// NativeMessagingAllowlist names it, and NativeMessagingUserLevelHosts false
// ignores per-user manifests. Firefox has no native-messaging policy, but
// ExtensionSettings and Extensions.Uninstall can block the extension itself.
#include <algorithm>
#include <system_error>

#include "browser_hosts.hpp"
#include "doctor_browsers.hpp"

namespace p2pcp::cli::doctor {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::optional<json> readJsonFile(const fs::path& file) {
  const auto text = readSmallRegularFile(file);
  if (!text) {
    return std::nullopt;
  }
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return std::nullopt;
  }
  return doc;
}

bool listNames(const json& doc, const char* key, const std::string& value) {
  if (!doc.contains(key) || !doc[key].is_array()) {
    return false;
  }
  return std::any_of(doc[key].begin(), doc[key].end(),
                     [&](const json& entry) { return entry.is_string() && entry == value; });
}

}  // namespace

ChromiumPolicy readChromiumPolicy(const fs::path& dir) {
  ChromiumPolicy policy;
  std::error_code error;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".json") {
      files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    policy.files.push_back(file.string());
    const auto doc = readJsonFile(file);
    if (!doc) {
      policy.unreadable.push_back(file.string());
      continue;
    }
    if (listNames(*doc, "NativeMessagingBlocklist", "*") ||
        listNames(*doc, "NativeMessagingBlocklist", kHostName)) {
      policy.blockedBy = policy.blockedBy.value_or(file);
    }
    if (doc->contains("NativeMessagingAllowlist")) {
      policy.allowlistFile = policy.allowlistFile.value_or(file);
      policy.allowlisted =
          policy.allowlisted || listNames(*doc, "NativeMessagingAllowlist", kHostName);
    }
    if (doc->contains("NativeMessagingUserLevelHosts") &&
        (*doc)["NativeMessagingUserLevelHosts"] == false) {
      policy.userLevelOffBy = policy.userLevelOffBy.value_or(file);
    }
  }
  return policy;
}

Check chromiumPolicyCheck(const BrowserInfo& browser, const ChromiumPolicy& policy, bool userOnly,
                          const std::string& userManifest) {
  Check check{"browser-policy." + browser.id,
              Status::Ok,
              "",
              "",
              {{"directory", browser.policyDir.string()}, {"files", policy.files}}};
  if (policy.blockedBy && !policy.allowlisted) {
    check.status = Status::Fail;
    check.finding = policy.blockedBy->string() +
                    " blocks native messaging (NativeMessagingBlocklist) "
                    "and no NativeMessagingAllowlist names " +
                    kHostName + ": " + browser.name +
                    " refuses to start the host, and pages get HOST_FORBIDDEN";
    if (policy.allowlistFile) {
      check.finding += "; add \"" + std::string(kHostName) +
                       "\" to the NativeMessagingAllowlist in " + policy.allowlistFile->string();
      check.fix = editSystemFileCommand(*policy.allowlistFile);
    } else {
      const fs::path file = browser.policyDir / "p2pcp-native-messaging.json";
      check.fix =
          "echo " +
          shellQuoted(R"({"NativeMessagingAllowlist": [")" + std::string(kHostName) + R"("]})") +
          " | " + asRoot("tee " + file.string());
    }
    return check;
  }
  if (policy.userLevelOffBy && userOnly) {
    check.status = Status::Fail;
    check.finding = policy.userLevelOffBy->string() +
                    " sets NativeMessagingUserLevelHosts to false, and the host is installed only "
                    "for this user (" +
                    userManifest + "): " + browser.name + " ignores it";
    check.fix = asRoot("p2pcp install-browser-hosts --system");
    return check;
  }
  if (policy.files.empty()) {
    check.finding = "no managed policy in " + browser.policyDir.string();
  } else {
    check.finding =
        "the managed policies leave native messaging to " + std::string(kHostName) + " allowed";
    if (policy.blockedBy) {
      check.finding += " (blocked for others, allowlisted for it)";
    }
    if (policy.userLevelOffBy) {
      check.finding += "; only system-wide manifests count";
    }
  }
  if (!policy.unreadable.empty()) {
    check.status = Status::Warn;
    check.finding +=
        "; not valid JSON, so " + browser.name + " ignores it: " + json(policy.unreadable).dump();
    check.fix = editSystemFileCommand(policy.unreadable.front());
  }
  return check;
}

Check firefoxPolicyCheck(const std::vector<std::string>& firefoxIds) {
  // /etc/firefox/policies wins when present; the distribution directories are
  // read otherwise. Every one present is looked at.
  const std::vector<fs::path> candidates = {"/etc/firefox/policies/policies.json",
                                            "/usr/lib/firefox/distribution/policies.json",
                                            "/usr/lib/firefox-esr/distribution/policies.json"};
  Check check{"browser-policy.firefox", Status::Ok, "", "", {{"files", json::array()}}};
  std::vector<std::string> blocked;
  for (const auto& file : candidates) {
    std::error_code ignored;
    if (!fs::exists(file, ignored)) {
      continue;
    }
    check.details["files"].push_back(file.string());
    const auto doc = readJsonFile(file);
    if (!doc || !doc->contains("policies") || !(*doc)["policies"].is_object()) {
      check.status = Status::Warn;
      check.finding = file.string() +
                      " is not a valid policies.json ({\"policies\": {...}}): "
                      "Firefox ignores it";
      check.fix = editSystemFileCommand(file);
      continue;
    }
    const json& policies = (*doc)["policies"];
    const json settings = policies.value("ExtensionSettings", json::object());
    const auto modeOf = [&](const std::string& id) -> std::string {
      if (settings.is_object() && settings.contains(id) && settings[id].is_object() &&
          settings[id].contains("installation_mode") &&
          settings[id]["installation_mode"].is_string()) {
        return settings[id]["installation_mode"].get<std::string>();
      }
      return "";
    };
    for (const auto& id : firefoxIds) {
      const std::string own = modeOf(id);
      const bool byWildcard = own.empty() && modeOf("*") == "blocked";
      const bool uninstalled = policies.contains("Extensions") &&
                               policies["Extensions"].is_object() &&
                               listNames(policies["Extensions"], "Uninstall", id);
      if (own == "blocked" || byWildcard || uninstalled) {
        blocked.push_back(id);
        check.finding = file.string() + " blocks the add-on " + id;
        check.finding += uninstalled  ? " (Extensions.Uninstall)"
                         : byWildcard ? R"( (ExtensionSettings "*" is blocked))"
                                      : " (ExtensionSettings installation_mode blocked)";
        check.finding += R"(; set ExtensionSettings[")" + id +
                         R"("].installation_mode to "force_installed" or "allowed")";
        check.fix = editSystemFileCommand(file);
      }
    }
  }
  if (!blocked.empty()) {
    // Every add-on the host serves blocked: Firefox pages cannot use p2pcp at all.
    check.status = blocked.size() == firefoxIds.size() ? Status::Fail : Status::Warn;
  } else if (check.status == Status::Ok) {
    check.finding = check.details["files"].empty()
                        ? "no Firefox policies.json"
                        : "the Firefox policies leave the p2pcp add-on allowed";
  }
  return check;
}

}  // namespace p2pcp::cli::doctor
