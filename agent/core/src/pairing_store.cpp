// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/pairing_store.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "p2pcp/agent/config_file.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/origin.hpp"
#include "p2pcp/agent/private_file.hpp"

namespace p2pcp::agent {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

PairingState stateFromName(const std::string& name) {
  if (name == "paired") {
    return PairingState::Paired;
  }
  if (name == "refused") {
    return PairingState::Refused;
  }
  throw std::runtime_error("unknown state \"" + name.substr(0, 16) + "\"");
}

}  // namespace

std::string_view pairingStateName(PairingState state) noexcept {
  return state == PairingState::Paired ? "paired" : "refused";
}

PairingStore::PairingStore(fs::path file) : file_(std::move(file)) {
  try {
    load();
  } catch (const std::exception& e) {
    entries_.clear();
    const fs::path aside = setAsideUnreadableFile(file_);
    logWarning("pairing file " + file_.string() + " could not be read (" + e.what() +
               "); moved to " + aside.string() + ", starting with no pairings");
  }
}

void PairingStore::load() {
  // The settings' rules: a regular file of bounded size, the strict parser.
  const auto read = readConfigFile(file_);
  if (!read) {
    return;
  }
  const json& doc = *read;
  if (doc.value("version", 0) != 1) {
    throw std::runtime_error("unknown version");
  }
  for (const auto& entry : doc.at("pairings")) {
    Pairing pairing{entry.at("origin").get<std::string>(),
                    stateFromName(entry.at("state").get<std::string>()),
                    entry.at("since").get<std::int64_t>()};
    if (!isCanonicalWebOrigin(pairing.origin)) {
      throw std::runtime_error("invalid origin");
    }
    if (entries_.contains(pairing.origin)) {
      throw std::runtime_error("an origin is listed twice");
    }
    entries_[pairing.origin] = std::move(pairing);
  }
}

std::optional<Pairing> PairingStore::find(const std::string& origin) const {
  const std::scoped_lock lock(mutex_);
  if (const auto it = entries_.find(origin); it != entries_.end()) {
    return it->second;
  }
  return std::nullopt;
}

bool PairingStore::isPaired(const std::string& origin) const {
  const auto pairing = find(origin);
  return pairing && pairing->state == PairingState::Paired;
}

void PairingStore::record(const std::string& origin, PairingState state) {
  const std::scoped_lock lock(mutex_);
  if (state == PairingState::Refused && !entries_.contains(origin)) {
    const auto refusals = std::count_if(entries_.begin(), entries_.end(), [](const auto& entry) {
      return entry.second.state == PairingState::Refused;
    });
    if (static_cast<std::size_t>(refusals) >= kMaxRefusals) {
      auto oldest = entries_.end();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->second.state == PairingState::Refused &&
            (oldest == entries_.end() || it->second.since < oldest->second.since)) {
          oldest = it;
        }
      }
      entries_.erase(oldest);
    }
  }
  entries_[origin] = Pairing{origin, state, nowSeconds()};
  saveLocked();
}

bool PairingStore::forget(const std::string& origin) {
  const std::scoped_lock lock(mutex_);
  if (entries_.erase(origin) == 0) {
    return false;
  }
  saveLocked();
  return true;
}

std::vector<Pairing> PairingStore::list() const {
  const std::scoped_lock lock(mutex_);
  std::vector<Pairing> out;
  out.reserve(entries_.size());
  for (const auto& [origin, pairing] : entries_) {
    out.push_back(pairing);
  }
  return out;
}

void PairingStore::saveLocked() const {
  json pairings = json::array();
  for (const auto& [origin, pairing] : entries_) {
    pairings.push_back({{"origin", pairing.origin},
                        {"state", pairingStateName(pairing.state)},
                        {"since", pairing.since}});
  }
  replacePrivateFile(file_, json{{"version", 1}, {"pairings", pairings}}.dump(2) + "\n");
}

}  // namespace p2pcp::agent
