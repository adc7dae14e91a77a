// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/consent_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "p2pcp/agent/config_file.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/origin.hpp"
#include "p2pcp/agent/private_file.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::agent {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Grade gradeFromName(const std::string& name) {
  if (name == "site") {
    return Grade::Site;
  }
  if (name == "full") {
    return Grade::Full;
  }
  throw std::runtime_error("unknown access \"" + name.substr(0, 16) + "\"");
}

void requireOrigin(const std::string& origin) {
  if (!isCanonicalWebOrigin(origin)) {
    throw std::runtime_error("invalid origin");
  }
}

}  // namespace

ConsentStore::ConsentStore(fs::path file) : file_(std::move(file)) {
  try {
    load();
  } catch (const std::exception& e) {
    granted_.clear();
    denied_.clear();
    const fs::path aside = setAsideUnreadableFile(file_);
    logWarning("consent file " + file_.string() + " could not be read (" + e.what() +
               "); moved to " + aside.string() + ", starting with no consents");
  }
}

void ConsentStore::load() {
  // The same rules as the settings: a regular file of bounded size, read with
  // the strict parser; a FIFO or a link to a device is an error, never a hang.
  const auto read = readConfigFile(file_);
  if (!read) {
    return;
  }
  const json& doc = *read;
  const int version = doc.value("version", 0);
  if (version != 1 && version != 2) {
    throw std::runtime_error("unknown version");
  }
  for (const auto& [origin, entry] : doc.at("origins").items()) {
    requireOrigin(origin);
    Consent consent{origin, Grade::Site, entry.at("grantedAt").get<std::int64_t>(), std::nullopt};
    if (version == 2) {
      consent.grade = gradeFromName(entry.at("access").get<std::string>());
      if (entry.contains("space")) {
        consent.space = entry.at("space").get<std::string>();
        requireOrigin(*consent.space);
      }
    }
    granted_[origin] = std::move(consent);
  }
  if (version == 2 && doc.contains("denied")) {
    const auto now = nowSeconds();
    for (const auto& [origin, entry] : doc.at("denied").items()) {
      requireOrigin(origin);
      Denial denial{origin, gradeFromName(entry.at("access").get<std::string>()),
                    entry.at("deniedAt").get<std::int64_t>(),
                    entry.at("until").get<std::int64_t>()};
      if (denial.until > now) {
        denied_[origin] = std::move(denial);
      }
    }
  }
}

std::optional<Consent> ConsentStore::find(const std::string& origin) const {
  const std::scoped_lock lock(mutex_);
  if (const auto it = granted_.find(origin); it != granted_.end()) {
    return it->second;
  }
  return std::nullopt;
}

void ConsentStore::grant(const std::string& origin, Grade grade, std::optional<std::string> space) {
  const std::scoped_lock lock(mutex_);
  granted_[origin] = Consent{origin, grade, nowSeconds(), std::move(space)};
  // The grant answers the denials it covers; a denied full access outlives a
  // new site access.
  if (const auto it = denied_.find(origin);
      it != denied_.end() && static_cast<int>(it->second.grade) <= static_cast<int>(grade)) {
    denied_.erase(it);
  }
  saveLocked();
}

bool ConsentStore::revoke(const std::string& origin) {
  const std::scoped_lock lock(mutex_);
  const bool had = granted_.erase(origin) + denied_.erase(origin) > 0;
  if (had) {
    saveLocked();
  }
  return had;
}

void ConsentStore::deny(const std::string& origin, Grade grade, std::chrono::seconds duration) {
  const std::scoped_lock lock(mutex_);
  const auto now = nowSeconds();
  std::erase_if(denied_, [now](const auto& entry) { return entry.second.until <= now; });
  if (denied_.size() >= kMaxDenials && !denied_.contains(origin)) {
    // Bounded: denials come from pages. The one ending first goes.
    denied_.erase(std::min_element(
        denied_.begin(), denied_.end(),
        [](const auto& a, const auto& b) { return a.second.until < b.second.until; }));
  }
  denied_[origin] = Denial{origin, grade, now, now + duration.count()};
  saveLocked();
}

std::optional<Denial> ConsentStore::denialCovering(const std::string& origin, Grade wanted) const {
  const std::scoped_lock lock(mutex_);
  const auto it = denied_.find(origin);
  if (it == denied_.end() || it->second.until <= nowSeconds()) {
    return std::nullopt;
  }
  // Grades are ordered: a denied site access leaves nothing to ask for.
  if (static_cast<int>(it->second.grade) > static_cast<int>(wanted)) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<Consent> ConsentStore::list() const {
  const std::scoped_lock lock(mutex_);
  std::vector<Consent> out;
  for (const auto& [origin, consent] : granted_) {
    out.push_back(consent);
  }
  return out;
}

std::vector<Denial> ConsentStore::denials() const {
  const std::scoped_lock lock(mutex_);
  const auto now = nowSeconds();
  std::vector<Denial> out;
  for (const auto& [origin, denial] : denied_) {
    if (denial.until > now) {
      out.push_back(denial);
    }
  }
  return out;
}

void ConsentStore::saveLocked() const {
  json origins = json::object();
  for (const auto& [origin, consent] : granted_) {
    json entry = {{"access", gradeName(consent.grade)}, {"grantedAt", consent.grantedAt}};
    if (consent.space) {
      entry["space"] = *consent.space;
    }
    origins[origin] = std::move(entry);
  }
  json denied = json::object();
  const auto now = nowSeconds();
  for (const auto& [origin, denial] : denied_) {
    if (denial.until > now) {
      denied[origin] = {{"access", gradeName(denial.grade)},
                        {"deniedAt", denial.deniedAt},
                        {"until", denial.until}};
    }
  }
  const std::string text =
      json{{"version", 2}, {"origins", origins}, {"denied", denied}}.dump(2) + "\n";

  replacePrivateFile(file_, text);
}

}  // namespace p2pcp::agent
