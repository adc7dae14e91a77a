// SPDX-License-Identifier: Apache-2.0
#pragma once
// The web origins the person paired with the WebSocket front door, and those
// they refused to pair, kept in pairings.json with the consent store's rules
// (mode 0600, replaced atomically, an unreadable file set aside). A pairing
// only opens the door to an origin: what it may do there is still its consent
// grade (consent_store.hpp), and neither store touches the other.
// Thread-safe.

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace p2pcp::agent {

enum class PairingState { Paired, Refused };

struct Pairing {
  std::string origin;
  PairingState state = PairingState::Paired;
  std::int64_t since = 0;  // seconds since the epoch
};

std::string_view pairingStateName(PairingState state) noexcept;  // "paired", "refused"

class PairingStore {
 public:
  // Refusals kept at most: they come from pages (each one a dialog the person
  // answered, so this is a bound on a slow loop, not a cache). When full, the
  // oldest refusal goes; pairings are never dropped.
  static constexpr std::size_t kMaxRefusals = 500;

  // Loads the file if present. One that cannot be read or parsed is moved
  // aside (setAsideUnreadableFile) and the store starts empty: every origin
  // pairs again, which is the safe side.
  explicit PairingStore(std::filesystem::path file);

  [[nodiscard]] std::optional<Pairing> find(const std::string& origin) const;
  [[nodiscard]] bool isPaired(const std::string& origin) const;
  // Records the person's answer for the origin (replacing any earlier one).
  void record(const std::string& origin, PairingState state);
  // Forgets a pairing or a refusal. False when there was neither.
  bool forget(const std::string& origin);
  [[nodiscard]] std::vector<Pairing> list() const;

 private:
  void load();
  void saveLocked() const;

  std::filesystem::path file_;
  mutable std::mutex mutex_;
  std::map<std::string, Pairing> entries_;
};

}  // namespace p2pcp::agent
