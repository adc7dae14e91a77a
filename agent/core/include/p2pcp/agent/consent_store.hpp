#pragma once
// The origins the person has allowed, kept in consents.json (mode 0600,
// replaced atomically so a crash never leaves half a file). Thread-safe.

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "p2pcp/agent/origin.hpp"

namespace p2pcp::agent {

struct Consent {
  std::string origin;
  std::int64_t grantedAt = 0;  // seconds since the epoch
};

class ConsentStore {
 public:
  // Loads the file if present. A file that cannot be parsed is moved aside to
  // "<file>.corrupt" (never overwritten) and the store starts empty.
  explicit ConsentStore(std::filesystem::path file);

  [[nodiscard]] bool isGranted(const std::string& origin) const;
  void grant(const std::string& origin);
  // Returns false when the origin had no consent.
  bool revoke(const std::string& origin);
  [[nodiscard]] std::vector<Consent> list() const;

 private:
  void saveLocked() const;

  std::filesystem::path file_;
  mutable std::mutex mutex_;
  std::map<std::string, std::int64_t> granted_;
};

}  // namespace p2pcp::agent
