// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/default_key_store.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "p2pcp/agent/config_file.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/private_file.hpp"

namespace p2pcp::agent {

namespace fs = std::filesystem;
using nlohmann::json;

bool isKeyFingerprint(std::string_view text) noexcept {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

DefaultKeyStore::DefaultKeyStore(fs::path file) : file_(std::move(file)) {
  try {
    load();
  } catch (const std::exception& e) {
    chosen_.reset();
    const fs::path aside = setAsideUnreadableFile(file_);
    logWarning("default key file " + file_.string() + " could not be read (" + e.what() +
               "); moved to " + aside.string() + ", starting without a chosen default key");
  }
}

void DefaultKeyStore::load() {
  // Bounded regular file, strict parser: the same rules as the settings.
  const auto read = readConfigFile(file_);
  if (!read) {
    return;
  }
  const json& doc = *read;
  if (doc.value("version", 0) != 1) {
    throw std::runtime_error("unknown version");
  }
  const json& key = doc.at("key");
  if (key.is_null()) {
    return;
  }
  ChosenKey chosen{key.at("fingerprint").get<std::string>(), key.at("label").get<std::string>(),
                   key.at("uri").get<std::string>()};
  if (!isKeyFingerprint(chosen.fingerprint)) {
    throw std::runtime_error("the fingerprint is not 64 lowercase hex digits");
  }
  chosen_ = std::move(chosen);
}

std::optional<ChosenKey> DefaultKeyStore::current() const {
  const std::scoped_lock lock(mutex_);
  return chosen_;
}

void DefaultKeyStore::choose(const std::optional<ChosenKey>& key) {
  const std::scoped_lock lock(mutex_);
  json entry = nullptr;
  if (key) {
    entry = {{"fingerprint", key->fingerprint}, {"label", key->label}, {"uri", key->uri}};
  }
  replacePrivateFile(file_, json{{"version", 1}, {"key", entry}}.dump(2) + "\n");
  chosen_ = key;
}

}  // namespace p2pcp::agent
