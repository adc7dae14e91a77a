// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the person decided for each web origin, kept in consents.json (mode
// 0600, replaced atomically so a crash never leaves half a file): the grade
// they granted (site access or full access), the site space an origin shares
// when they said it belongs with another, and the denials they gave, which
// are remembered for a while so a page cannot reopen the dialog in a loop.
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "p2pcp/agent/access.hpp"

namespace p2pcp::agent {

struct Consent {
  std::string origin;
  Grade grade = Grade::Site;
  std::int64_t grantedAt = 0;        // seconds since the epoch
  std::optional<std::string> space;  // shares the site space of this origin (the person said so)
};

struct Denial {
  std::string origin;
  Grade grade =
      Grade::Site;  // what was denied: site access (everything) or the full-access upgrade
  std::int64_t deniedAt = 0;
  std::int64_t until = 0;  // seconds since the epoch; forgotten after
};

class ConsentStore {
 public:
  // Remembered denials kept at most (they come from pages). Pages get at most
  // 30 dialogs in 10 minutes, so this holds about 70 minutes of nothing but
  // denials; each one rewrites (and syncs) the whole file, so the bound also
  // keeps that cheap.
  static constexpr std::size_t kMaxDenials = 200;

  // Loads the file if present (layout version 1 or 2; version 1 consents become
  // site access). A file that cannot be parsed is moved aside to "<file>.corrupt"
  // (never overwritten) and the store starts empty.
  explicit ConsentStore(std::filesystem::path file);

  [[nodiscard]] std::optional<Consent> find(const std::string& origin) const;
  // Grants (or changes) an origin's grade; a remembered denial it answers (of
  // the same grade or lower) is forgotten.
  void grant(const std::string& origin, Grade grade, std::optional<std::string> space = {});
  // Forgets the origin's consent and any remembered denial. False when there was neither.
  bool revoke(const std::string& origin);
  // Remembers that the person denied `grade` to the origin, for `duration`.
  void deny(const std::string& origin, Grade grade, std::chrono::seconds duration);
  // The denial in force that covers a request for `wanted`: a denied site access
  // covers everything, a denied full-access upgrade only full access.
  [[nodiscard]] std::optional<Denial> denialCovering(const std::string& origin, Grade wanted) const;

  [[nodiscard]] std::vector<Consent> list() const;
  [[nodiscard]] std::vector<Denial> denials() const;  // those in force

 private:
  void load();
  void saveLocked() const;

  std::filesystem::path file_;
  mutable std::mutex mutex_;
  std::map<std::string, Consent> granted_;
  std::map<std::string, Denial> denied_;
};

}  // namespace p2pcp::agent
