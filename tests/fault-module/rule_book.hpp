// SPDX-License-Identifier: Apache-2.0
#pragma once
// The rules in force in this process: read from the rules file, read again
// whenever that file changes (so a test can change faults while the agent
// runs), with each rule's counters and the token state the rules have set.
// Thread-safe: PKCS#11 callers call from many threads.

#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fault_rules.hpp"

namespace p2pcp::testing::fault {

// What the rules have made of the token, from their first firing until the
// rules file changes.
struct TokenState {
  bool absent = false;      // every token of the wrapped module looks removed
  CK_FLAGS extraFlags = 0;  // reported by C_GetTokenInfo on top of the real flags
};

// What one call must do.
struct Decision {
  std::optional<std::size_t> rule;  // 1-based position of the rule that fired
  std::optional<CK_RV> rv;          // answer this instead of calling the module
  std::chrono::milliseconds delay{0};
  bool hang = false;
  bool abort = false;
  bool closeSessions = false;              // a reset, or the token has just been removed
  TokenState token;                        // after this call's rule fired
  std::optional<std::string> brokenRules;  // the rules file cannot be used: why
};

class RuleBook {
 public:
  // No file: no rules ever (a plain pass-through module).
  explicit RuleBook(std::optional<std::filesystem::path> file);

  // Counts the call against the rules and says what to do. Reads the rules
  // file again first when it changed; a missing file means no rules.
  Decision decide(Call call);

 private:
  struct FileStamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified{};
    timespec changed{};
    bool operator==(const FileStamp& other) const noexcept;
  };
  struct Armed {
    Rule rule;
    unsigned long seen = 0;   // matching calls since the file was read
    unsigned long fired = 0;  // of those, the ones it acted on
    [[nodiscard]] bool spent() const noexcept { return rule.times && fired >= *rule.times; }
  };

  void reloadIfChangedLocked();

  std::mutex mutex_;
  std::optional<std::filesystem::path> file_;
  std::optional<FileStamp> stamp_;  // nullopt: the file does not exist
  bool loaded_ = false;
  std::vector<Armed> rules_;
  std::optional<std::string> error_;
  TokenState token_;
};

}  // namespace p2pcp::testing::fault
