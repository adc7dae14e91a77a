// SPDX-License-Identifier: Apache-2.0
#pragma once
// The fault module's counters: one JSON line per PKCS#11 call appended to a
// file, so a test can count calls across the processes that load the module:
//   {"pid": 4242, "call": "C_Login", "rv": "CKR_PIN_INCORRECT", "rule": 1}
// "rule" (the 1-based position of the rule that fired) only when one did; a
// call that hangs or aborts logs {"pid", "call", "rule", "hang": true} or
// "abort": true before it does, and a call failed because the rules file is
// broken carries "brokenRules": true. Nothing about a call's arguments is logged:
// no PIN, no PIN length, no data.

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "pkcs11_calls.hpp"

namespace p2pcp::testing::fault {

class CallLog {
 public:
  // No file: nothing is logged.
  explicit CallLog(std::optional<std::filesystem::path> file);

  void returned(Call call, CK_RV rv, std::optional<std::size_t> rule,
                bool brokenRules = false) noexcept;
  void stopping(Call call, std::optional<std::size_t> rule, const char* how) noexcept;

 private:
  void append(const std::string& line) noexcept;

  std::optional<std::filesystem::path> file_;
  std::mutex mutex_;
};

}  // namespace p2pcp::testing::fault
