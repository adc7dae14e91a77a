// SPDX-License-Identifier: Apache-2.0
// libp2pcp-fault-pkcs11.so: a PKCS#11 2.40 module for tests. It loads a real
// module (SoftHSM2) and forwards every call to it unchanged, return codes
// included, except where a rule of the rules file says otherwise: then the
// call fails with a chosen CKR_, is delayed, hangs or aborts the process, or
// the token reports other PIN flags, looks removed or is reset. This reaches
// what SoftHSM2 never does by itself (a low PIN counter, a locked PIN, a device
// error, a card pulled during an operation).
//
// Environment, read when a process first uses the module:
//   P2PCP_FAULT_WRAPPED_MODULE  the real module; default /usr/lib/softhsm/libsofthsm2.so
//   P2PCP_FAULT_RULES           the rules file; unset: a plain pass-through
//   P2PCP_FAULT_LOG             the call log (call_log.hpp); unset: no log
//
// The rules file is read again on any call after it changed, so a test can
// change faults while the process that loaded the module runs. Replace it
// whole (write a new file beside it, then rename it over the old one): a
// half-written file is an error. A missing file means no rules, and a new
// file starts over (counters, the token's flags and presence). A file that
// cannot be parsed makes every call fail with CKR_GENERAL_ERROR (and says why
// on stderr) until it is fixed, so a typo cannot pass for a fault that never
// happened. The rules, one JSON object per line or one JSON array of them
// (details in fault_rules.hpp):
//
//   {"call": "C_Sign", "rv": "CKR_DEVICE_REMOVED", "times": 1}   the next C_Sign fails
//   {"call": "C_Sign", "rv": "CKR_DEVICE_ERROR", "skip": 2}      every C_Sign from the 3rd on
//   {"call": "C_Login", "rv": "CKR_PIN_INCORRECT", "flags": ["CKF_USER_PIN_COUNT_LOW"]}
//        C_Login fails without reaching the token, and C_GetTokenInfo reports
//        CKF_USER_PIN_COUNT_LOW from then on
//   {"call": "C_GetTokenInfo", "flags": ["CKF_USER_PIN_LOCKED"]}   the PIN looks blocked
//   {"call": "C_GetSlotList", "tokenPresent": false}   the token looks removed (its real
//        sessions are closed, so once the rule is gone it is back, logged out, with
//        every old session handle invalid, as after a real re-insertion)
//   {"call": "C_Sign", "reset": true}   the real sessions are closed under this C_Sign
//   {"call": "C_Sign", "delayMs": 500}  {"call": "C_Sign", "hang": true}
//   {"call": "C_Sign", "abort": true}
//
// A made-up failure of a call that ends an operation (C_Sign, C_Decrypt, an
// update or final call) ends the real module's operation too, as a failing
// call does on a real token (operation_end.hpp).
//
// While the token looks removed, calls that take a slot answer
// CKR_TOKEN_NOT_PRESENT, calls that take a session CKR_DEVICE_REMOVED,
// C_GetSlotList(CK_TRUE) leaves the slots out and C_GetSlotInfo clears
// CKF_TOKEN_PRESENT.
//
// All state (rules, counters, the token's state) is per process: in the agent
// or in a helper process of its own, each process that loads the module has
// its own, and the control channel (the two files) is outside every process.
// Thread-safe; the only exported symbol is C_GetFunctionList.

#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <new>
#include <thread>
#include <vector>

#include "call_log.hpp"
#include "operation_end.hpp"
#include "pkcs11_calls.hpp"
#include "rule_book.hpp"
#include "wrapped_module.hpp"

namespace p2pcp::testing::fault {

namespace {

constexpr const char* kDefaultWrappedModule = "/usr/lib/softhsm/libsofthsm2.so";

std::optional<std::filesystem::path> pathFromEnvironment(const char* name) {
  // Read once per process, before the module's own threads could race a setenv.
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::filesystem::path(value);
}

CK_FUNCTION_LIST makeFunctionList();

class FaultModule {
 public:
  FaultModule(const FaultModule&) = delete;
  FaultModule& operator=(const FaultModule&) = delete;
  FaultModule(FaultModule&&) = delete;
  FaultModule& operator=(FaultModule&&) = delete;
  ~FaultModule() = default;

  // The one instance of this process, made on first use.
  static FaultModule& instance() {
    static FaultModule module;
    return module;
  }

  [[nodiscard]] CK_FUNCTION_LIST* functionList() noexcept { return &list_; }

  // Runs one call under the rules. `real(functions, token)` calls the wrapped
  // module (and may adjust what it answered to the token state);
  // `endOperation(functions)` ends the real operation a made-up failure ends.
  template <typename Real, typename EndOperation>
  CK_RV intercept(Call call, Real&& real, EndOperation&& endOperation) {
    const CK_FUNCTION_LIST* functions = wrapped_.functions();
    if (functions == nullptr) {
      std::cerr << "p2pcp fault module: " << wrapped_.error() << std::endl;
      log_.returned(call, CKR_GENERAL_ERROR, std::nullopt);
      return CKR_GENERAL_ERROR;
    }
    const Decision decision = rules_.decide(call);
    if (decision.brokenRules) {
      log_.returned(call, CKR_GENERAL_ERROR, std::nullopt, true);
      return CKR_GENERAL_ERROR;
    }
    if (decision.closeSessions) {
      closeRealSessions(*functions);
    }
    if (decision.abort) {
      log_.stopping(call, decision.rule, "abort");
      std::abort();
    }
    if (decision.hang) {
      log_.stopping(call, decision.rule, "hang");
      while (true) {
        std::this_thread::sleep_for(std::chrono::hours(1));
      }
    }
    if (decision.delay.count() > 0) {
      std::this_thread::sleep_for(decision.delay);
    }
    CK_RV rv = CKR_OK;
    const CallKind kind = infoOf(call).kind;
    if (decision.rv) {
      rv = *decision.rv;
      if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL && !decision.token.absent) {
        endOperation(*functions);
      }
    } else if (decision.token.absent && kind == CallKind::Slot) {
      rv = CKR_TOKEN_NOT_PRESENT;
    } else if (decision.token.absent && kind == CallKind::Session) {
      rv = CKR_DEVICE_REMOVED;
    } else {
      rv = real(*functions, decision.token);
    }
    log_.returned(call, rv, decision.rule);
    return rv;
  }

 private:
  FaultModule()
      : wrapped_(pathFromEnvironment("P2PCP_FAULT_WRAPPED_MODULE")
                     .value_or(kDefaultWrappedModule)
                     .string()),
        rules_(pathFromEnvironment("P2PCP_FAULT_RULES")),
        log_(pathFromEnvironment("P2PCP_FAULT_LOG")),
        list_(makeFunctionList()) {}

  // What a card reset or removal does to the sessions: all closed, logged out.
  static void closeRealSessions(const CK_FUNCTION_LIST& functions) {
    CK_ULONG count = 0;
    if (functions.C_GetSlotList(CK_TRUE, nullptr, &count) != CKR_OK) {
      return;
    }
    std::vector<CK_SLOT_ID> slots(count);
    if (functions.C_GetSlotList(CK_TRUE, slots.data(), &count) != CKR_OK) {
      return;
    }
    slots.resize(count);
    for (const CK_SLOT_ID slot : slots) {
      (void)functions.C_CloseAllSessions(slot);  // a slot emptied meanwhile has none
    }
  }

  WrappedModule wrapped_;
  RuleBook rules_;
  CallLog log_;
  CK_FUNCTION_LIST list_;
};

// Nothing may throw across the C boundary.
template <typename F>
CK_RV guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return CKR_HOST_MEMORY;
  } catch (...) {
    return CKR_GENERAL_ERROR;
  }
}

// The generic entry point for one function of the list: the rules, then the
// real function with the same arguments.
template <Call C, auto Member>
struct Forwarder;

template <Call C, typename... Args, CK_RV (*CK_FUNCTION_LIST::*Member)(Args...)>
struct Forwarder<C, Member> {
  static CK_RV call(Args... args) {
    return guarded([&] {
      return FaultModule::instance().intercept(
          C,
          [&](const CK_FUNCTION_LIST& real, const TokenState& /*token*/) {
            return (real.*Member)(args...);
          },
          [&](const CK_FUNCTION_LIST& real) {
            if constexpr (Ending<C>::ends) {
              Ending<C>::finish(real, args...);
            }
          });
    });
  }
};

// The four functions whose answers depend on the token state the rules set;
// none of them is part of an operation.
constexpr auto kNoOperation = [](const CK_FUNCTION_LIST& /*real*/) {};

CK_RV getFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  return guarded([&] {
    FaultModule& module = FaultModule::instance();
    return module.intercept(
        Call::C_GetFunctionList,
        [&](const CK_FUNCTION_LIST& /*real*/, const TokenState& /*token*/) {
          if (list == nullptr) {
            return CKR_ARGUMENTS_BAD;
          }
          *list = module.functionList();
          return CKR_OK;
        },
        kNoOperation);
  });
}

CK_RV getSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR slots, CK_ULONG_PTR count) {
  return guarded([&] {
    return FaultModule::instance().intercept(
        Call::C_GetSlotList,
        [&](const CK_FUNCTION_LIST& real, const TokenState& token) {
          if (!token.absent || tokenPresent == CK_FALSE) {
            return real.C_GetSlotList(tokenPresent, slots, count);
          }
          if (count == nullptr) {
            return CKR_ARGUMENTS_BAD;
          }
          *count = 0;  // no slot holds a token
          return CKR_OK;
        },
        kNoOperation);
  });
}

CK_RV getSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
  return guarded([&] {
    return FaultModule::instance().intercept(
        Call::C_GetSlotInfo,
        [&](const CK_FUNCTION_LIST& real, const TokenState& token) {
          const CK_RV rv = real.C_GetSlotInfo(slot, info);
          if (rv == CKR_OK && token.absent) {
            info->flags &= ~CK_FLAGS{CKF_TOKEN_PRESENT};
          }
          return rv;
        },
        kNoOperation);
  });
}

CK_RV getTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
  return guarded([&] {
    return FaultModule::instance().intercept(
        Call::C_GetTokenInfo,
        [&](const CK_FUNCTION_LIST& real, const TokenState& token) {
          const CK_RV rv = real.C_GetTokenInfo(slot, info);
          if (rv == CKR_OK) {
            info->flags |= token.extraFlags;
          }
          return rv;
        },
        kNoOperation);
  });
}

CK_FUNCTION_LIST makeFunctionList() {
  CK_FUNCTION_LIST list{};
  list.version = {2, 40};
  // NOLINTBEGIN(cppcoreguidelines-macro-usage)
#define P2PCP_FAULT_FORWARD(name, kind) \
  list.name = &Forwarder<Call::name, &CK_FUNCTION_LIST::name>::call;
  P2PCP_FAULT_CALLS(P2PCP_FAULT_FORWARD)
#undef P2PCP_FAULT_FORWARD
  // NOLINTEND(cppcoreguidelines-macro-usage)
  list.C_GetFunctionList = &getFunctionList;
  list.C_GetSlotList = &getSlotList;
  list.C_GetSlotInfo = &getSlotInfo;
  list.C_GetTokenInfo = &getTokenInfo;
  return list;
}

}  // namespace

}  // namespace p2pcp::testing::fault

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(
    CK_FUNCTION_LIST_PTR_PTR list) {
  return p2pcp::testing::fault::getFunctionList(list);
}
