// SPDX-License-Identifier: Apache-2.0
#pragma once
// The default key the person chose (setDefaultKey), kept in default-key.json
// beside consents.json (mode 0600, replaced atomically). It names the key by
// its fingerprint, which survives a relabelled key or a moved reader; the
// label and URI are kept to say which key is meant when it is absent.
// Thread-safe.

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

namespace p2pcp::agent {

struct ChosenKey {
  std::string fingerprint;  // 64 lowercase hex digits: SHA-256 of the SPKI
  std::string label;
  std::string uri;
};

class DefaultKeyStore {
 public:
  // Reads the file; a file that cannot be read is moved aside (as consents are)
  // and the agent starts without a chosen default.
  explicit DefaultKeyStore(std::filesystem::path file);

  [[nodiscard]] std::optional<ChosenKey> current() const;
  // Persists the choice (nullopt: forget it) before it takes effect.
  void choose(const std::optional<ChosenKey>& key);

 private:
  void load();

  const std::filesystem::path file_;
  mutable std::mutex mutex_;
  std::optional<ChosenKey> chosen_;
};

// Whether `text` is a key fingerprint as the protocol writes it.
bool isKeyFingerprint(std::string_view text) noexcept;

}  // namespace p2pcp::agent
