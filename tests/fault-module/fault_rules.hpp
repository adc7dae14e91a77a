// SPDX-License-Identifier: Apache-2.0
#pragma once
// The fault module's rule language (the module's header comment in
// fault_module.cpp and docs/testing.md describe it for test writers).
//
// A rules file holds either one JSON object per line (blank lines are
// skipped) or one JSON array of such objects. Each object is one rule:
//
//   "call"          required: the PKCS#11 function it applies to, e.g. "C_Sign"
//   "rv"            return this code instead of calling the real module: a
//                   name ("CKR_DEVICE_REMOVED") or a number (vendor codes)
//   "flags"         token flags ("CKF_USER_PIN_COUNT_LOW", ...) that
//                   C_GetTokenInfo reports from the rule's first firing on
//   "tokenPresent"  false: from the rule's first firing on, every token of the
//                   wrapped module looks removed; its real sessions are closed
//   "reset"         true: the real sessions are closed when the rule fires (a
//                   card reset, or a swap for the same card): logged out, and
//                   every old session handle is invalid from then on
//   "delayMs"       wait this long (0 to 600000) before the call goes on
//   "hang"          true: the call never returns
//   "abort"         true: the process aborts (SIGABRT) in the call
//   "skip"          let this many matching calls through untouched first (default 0)
//   "times"         fire for this many calls (at least 1), then never again;
//                   without it the rule fires for every matching call
//
// A rule needs at least one of rv, flags, tokenPresent, reset, delayMs, hang,
// abort. For each call the first rule (in file order) for that function that
// is neither skipping nor spent fires; the others wait.

#include <p11-kit/pkcs11.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11_calls.hpp"

namespace p2pcp::testing::fault {

struct Rule {
  Call call = Call::C_Initialize;
  std::optional<CK_RV> rv;
  CK_FLAGS flags = 0;
  bool tokenAbsent = false;
  bool reset = false;
  std::chrono::milliseconds delay{0};
  bool hang = false;
  bool abort = false;
  unsigned long skip = 0;
  std::optional<unsigned long> times;  // nullopt: every matching call
};

// A rules file that cannot be used; what() names the rule and the problem.
class RulesError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses the text of a rules file (empty text: no rules). Throws RulesError.
std::vector<Rule> parseRules(std::string_view text);

}  // namespace p2pcp::testing::fault
