// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor: every browser's host manifests, user and system, checked as
// the browser reads them (valid JSON, our name, an absolute executable path,
// stdio, the extension ids the host serves), and each installed browser that
// finds no manifest.
#include "doctor_browsers.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <system_error>

#include "browser_hosts.hpp"
#include "p2pcp/agent/extension_id.hpp"
#include "p2pcp/host/caller.hpp"

namespace p2pcp::cli::doctor {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<ManifestLocation> manifestLocations() {
  const fs::path home = environment("HOME").value_or("");
  const fs::path config = environment("XDG_CONFIG_HOME").value_or((home / ".config").string());
  return {
      {"user.chrome", false, false, config / "google-chrome/NativeMessagingHosts"},
      {"user.chromium", false, false, config / "chromium/NativeMessagingHosts"},
      {"user.edge", false, false, config / "microsoft-edge/NativeMessagingHosts"},
      {"user.brave", false, false, config / "BraveSoftware/Brave-Browser/NativeMessagingHosts"},
      {"user.firefox", true, false, home / ".mozilla/native-messaging-hosts"},
      // Brave reads Chrome's system directory (brave-core's BraveMainDelegate
      // points DIR_NATIVE_MESSAGING there), not one of its own.
      {"system.chrome", false, true, "/etc/opt/chrome/native-messaging-hosts"},
      {"system.chromium", false, true, "/etc/chromium/native-messaging-hosts"},
      {"system.edge", false, true, "/etc/opt/edge/native-messaging-hosts"},
      {"system.firefox", true, true, "/usr/lib/mozilla/native-messaging-hosts"},
      {"system.firefox-lib64", true, true, "/usr/lib64/mozilla/native-messaging-hosts"},
  };
}

std::vector<BrowserInfo> browsers() {
  return {
      {"chrome",
       "Chrome",
       false,
       {"user.chrome", "system.chrome"},
       {"/opt/google/chrome/chrome", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"},
       "/etc/opt/chrome/policies/managed"},
      {"chromium",
       "Chromium",
       false,
       {"user.chromium", "system.chromium"},
       {"/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"},
       "/etc/chromium/policies/managed"},
      {"edge",
       "Edge",
       false,
       {"user.edge", "system.edge"},
       {"/opt/microsoft/msedge/msedge", "/usr/bin/microsoft-edge",
        "/usr/bin/microsoft-edge-stable"},
       "/etc/opt/edge/policies/managed"},
      {"brave",
       "Brave",
       false,
       {"user.brave", "system.chrome"},
       {"/opt/brave.com/brave/brave", "/usr/bin/brave-browser", "/usr/bin/brave-browser-stable"},
       "/etc/brave/policies/managed"},
      {"firefox",
       "Firefox",
       true,
       {"user.firefox", "system.firefox", "system.firefox-lib64"},
       {"/usr/lib/firefox/firefox", "/usr/lib/firefox-esr/firefox-esr", "/usr/bin/firefox",
        "/usr/bin/firefox-esr"},
       ""},
  };
}

namespace {

struct ManifestState {
  bool present = false;
  bool usable = false;
  fs::path file;
  Check check;
};

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

std::vector<std::string> without(const std::vector<std::string>& items,
                                 const std::vector<std::string>& remove) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    if (std::find(remove.begin(), remove.end(), item) == remove.end()) {
      out.push_back(item);
    }
  }
  return out;
}

// The extension ids a manifest allows; a malformed entry is a problem of its own.
std::vector<std::string> allowedIds(const json& list, bool firefox, std::string& problem) {
  std::vector<std::string> ids;
  for (const auto& entry : list) {
    if (!entry.is_string()) {
      problem = "an allowed entry is not a string";
      continue;
    }
    const std::string text = entry.get<std::string>();
    if (firefox) {
      ids.push_back(text);
      continue;
    }
    const auto caller = host::parseCaller(std::vector<std::string>{text});
    if (!caller || !text.ends_with("/")) {
      problem = "allowed_origins entry \"" + text + "\" is not chrome-extension://<id>/";
      continue;
    }
    ids.push_back(caller->extensionId);
  }
  return ids;
}

// Compares the manifest's ids with the host's (docs/browser.md, "Extension ids").
void compareIds(Check& check, const std::vector<std::string>& listed,
                const std::optional<std::vector<std::string>>& served, bool firefox) {
  if (!served) {
    check.finding += "; its ids were not compared: the policy is malformed";
    return;
  }
  const std::vector<std::string> missing = without(*served, listed);
  const std::vector<std::string> extra = without(listed, *served);
  check.details["allowed"] = listed;
  check.details["served"] = *served;
  const std::string family = firefox ? "Firefox add-on" : "Chromium extension";
  if (served->empty()) {
    check.status = Status::Warn;
    check.finding += "; the host serves no " + family + " (allowedExtensions)";
  } else if (missing.size() == served->size()) {
    check.status = Status::Fail;
    check.finding += "; it allows " +
                     (listed.empty() ? std::string("no extension") : joined(listed)) +
                     " but the host serves " + joined(*served) + ": pages get HOST_FORBIDDEN";
  } else if (!missing.empty()) {
    check.status = Status::Warn;
    check.finding += "; it does not allow " + joined(missing) +
                     ", which the host serves: that extension gets HOST_FORBIDDEN";
  } else if (!extra.empty()) {
    check.status = Status::Warn;
    check.finding +=
        "; it allows " + joined(extra) + ", which the host does not serve (EXTENSION_NOT_ALLOWED)";
  }
}

ManifestState checkManifest(const ManifestLocation& location,
                            const std::optional<std::vector<std::string>>& served) {
  ManifestState state;
  state.file = location.dir / (std::string(kHostName) + ".json");
  std::error_code error;
  const auto status = fs::symlink_status(state.file, error);
  if (error || !fs::exists(status)) {
    return state;
  }
  state.present = true;
  const std::string file = state.file.string();
  Check& check = state.check;
  check = {"manifest." + location.id, Status::Fail, "", "", {{"file", file}}};
  check.fix = location.system ? asRoot("p2pcp install-browser-hosts --system")
                              : "p2pcp install-browser-hosts";
  const auto text = readSmallRegularFile(state.file);
  if (!text) {
    check.finding = file + " cannot be read as a regular file of at most 1 MiB";
    return state;
  }
  const json manifest = json::parse(*text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object()) {
    check.finding = file + " is not a valid JSON object: the browser cannot read it";
    return state;
  }
  if (manifest.value("name", json()) != kHostName) {
    check.finding = file + ": \"name\" is " + manifest.value("name", json()).dump() + ", not \"" +
                    kHostName + "\": the browser ignores it";
    return state;
  }
  if (manifest.value("type", json()) != "stdio") {
    check.finding =
        file + ": \"type\" is " + manifest.value("type", json()).dump() + ", not \"stdio\"";
    return state;
  }
  const json path = manifest.value("path", json());
  check.details["path"] = path;
  if (!path.is_string() || !fs::path(path.get<std::string>()).is_absolute()) {
    check.finding = file + ": \"path\" " + path.dump() +
                    " is not an absolute path: "
                    "the browser says \"native messaging host not found\"";
    return state;
  }
  const std::string program = path.get<std::string>();
  if (!fs::exists(program, error)) {
    check.finding = file + ": the host " + program + " does not exist";
    return state;
  }
  if (!fs::is_regular_file(program, error) || ::access(program.c_str(), X_OK) != 0) {
    check.finding = file + ": the host " + program + " is not an executable file";
    return state;
  }
  const char* key = location.firefox ? "allowed_extensions" : "allowed_origins";
  const char* otherKey = location.firefox ? "allowed_origins" : "allowed_extensions";
  if (!manifest.contains(key) || !manifest[key].is_array()) {
    check.finding =
        file + " has no \"" + key + "\" list" +
        (manifest.contains(otherKey) ? std::string(" (it has \"") + otherKey + "\", which is for " +
                                           (location.firefox ? "Chromium" : "Firefox") + ")"
                                     : std::string()) +
        ": the browser refuses every extension";
    return state;
  }
  std::string problem;
  const auto listed = allowedIds(manifest[key], location.firefox, problem);
  if (!problem.empty()) {
    check.finding = file + ": " + problem;
    return state;
  }
  check.status = Status::Ok;
  check.finding = file + " starts " + program;
  std::optional<std::vector<std::string>> family;
  if (served) {
    family.emplace();
    for (const auto& id : *served) {
      if (location.firefox != agent::isChromiumExtensionId(id)) {
        family->push_back(id);
      }
    }
  }
  compareIds(check, listed, family, location.firefox);
  if (check.status == Status::Ok) {
    check.fix.clear();
  }
  state.usable = check.status != Status::Fail;
  return state;
}

std::optional<fs::path> installedProgram(const BrowserInfo& browser) {
  for (const auto& program : browser.programs) {
    if (::access(program.c_str(), X_OK) == 0) {
      return program;
    }
  }
  return std::nullopt;
}

Check browserCheck(const BrowserInfo& browser,
                   const std::map<std::string, ManifestState>& manifests, bool userLevelHosts) {
  Check check{"browser." + browser.id, Status::Ok, "", "", json::object()};
  const auto program = installedProgram(browser);
  check.details["installed"] = program ? json(program->string()) : json(nullptr);
  // The first manifest the browser finds is the one it uses, even if broken.
  const ManifestState* used = nullptr;
  const ManifestState* anyPresent = nullptr;
  for (const auto& id : browser.locations) {
    const ManifestState& state = manifests.at(id);
    if (!state.present) {
      continue;
    }
    anyPresent = anyPresent != nullptr ? anyPresent : &state;
    if (used == nullptr && (userLevelHosts || id.starts_with("system."))) {
      used = &state;
    }
  }
  if (used != nullptr) {
    check.details["manifest"] = used->file.string();
  }
  if (!program) {
    check.finding = browser.name + " is not installed" +
                    (anyPresent != nullptr ? "; a manifest is ready at " + anyPresent->file.string()
                                           : std::string());
    return check;
  }
  if (used == nullptr) {
    check.status = Status::Warn;
    check.finding = browser.name + " is installed (" + program->string() +
                    ") but finds no host manifest: its pages cannot reach the agent";
    if (!userLevelHosts && anyPresent != nullptr) {
      check.finding += " (its policy ignores the user manifest " + anyPresent->file.string() + ")";
    }
    check.fix = userLevelHosts ? "p2pcp install-browser-hosts"
                               : asRoot("p2pcp install-browser-hosts --system");
    return check;
  }
  if (!used->usable) {
    check.status = Status::Fail;
    check.finding = browser.name + " uses " + used->file.string() + ", which is broken (" +
                    used->check.id + ")";
    check.fix = used->check.fix;
    return check;
  }
  check.finding = browser.name + " finds the host through " + used->file.string();
  return check;
}

}  // namespace

void checkBrowsers(const Context& context, Checks& out) {
  std::optional<std::vector<std::string>> served;
  if (context.policy) {
    served = host::allowedExtensionIds(context.policy->allowedExtensions);
  }
  std::map<std::string, ManifestState> manifests;
  for (const auto& location : manifestLocations()) {
    ManifestState state = checkManifest(location, served);
    if (state.present) {
      out.push_back(state.check);
    }
    manifests.emplace(location.id, std::move(state));
  }
  std::vector<Check> policyChecks;
  for (const auto& browser : browsers()) {
    if (browser.firefox) {
      out.push_back(browserCheck(browser, manifests, true));
      std::vector<std::string> firefoxIds;
      for (const auto& id : served.value_or(std::vector<std::string>{})) {
        if (!agent::isChromiumExtensionId(id)) {
          firefoxIds.push_back(id);
        }
      }
      policyChecks.push_back(firefoxPolicyCheck(firefoxIds));
      continue;
    }
    const ChromiumPolicy policy = readChromiumPolicy(browser.policyDir);
    out.push_back(browserCheck(browser, manifests, !policy.userLevelOffBy));
    const ManifestState& user = manifests.at(browser.locations.front());
    bool systemUsable = false;
    for (const auto& id : browser.locations) {
      systemUsable = systemUsable || (id.starts_with("system.") && manifests.at(id).usable);
    }
    policyChecks.push_back(
        chromiumPolicyCheck(browser, policy, user.present && !systemUsable, user.file.string()));
  }
  out.insert(out.end(), policyChecks.begin(), policyChecks.end());
}

}  // namespace p2pcp::cli::doctor
