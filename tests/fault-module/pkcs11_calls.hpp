// SPDX-License-Identifier: Apache-2.0
#pragma once
// The 68 functions of a PKCS#11 2.40 CK_FUNCTION_LIST, in the list's order, and
// what each one names: the module as a whole, a slot, or a session. The kind
// decides what a call returns while the token looks removed.

#include <p11-kit/pkcs11.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace p2pcp::testing::fault {

enum class CallKind {
  Module,    // C_Initialize, C_GetInfo, C_WaitForSlotEvent, ...: always forwarded
  SlotList,  // C_GetSlotList, C_GetSlotInfo: answered as if the token were out
  Slot,      // takes a slot id: CKR_TOKEN_NOT_PRESENT while removed
  Session,   // takes a session handle: CKR_DEVICE_REMOVED while removed
};

// X(name, kind) for every function, in CK_FUNCTION_LIST order.
// NOLINTBEGIN(cppcoreguidelines-macro-usage): one list drives the enum, the names and the table
#define P2PCP_FAULT_CALLS(X)        \
  X(C_Initialize, Module)           \
  X(C_Finalize, Module)             \
  X(C_GetInfo, Module)              \
  X(C_GetFunctionList, Module)      \
  X(C_GetSlotList, SlotList)        \
  X(C_GetSlotInfo, SlotList)        \
  X(C_GetTokenInfo, Slot)           \
  X(C_GetMechanismList, Slot)       \
  X(C_GetMechanismInfo, Slot)       \
  X(C_InitToken, Slot)              \
  X(C_InitPIN, Session)             \
  X(C_SetPIN, Session)              \
  X(C_OpenSession, Slot)            \
  X(C_CloseSession, Session)        \
  X(C_CloseAllSessions, Slot)       \
  X(C_GetSessionInfo, Session)      \
  X(C_GetOperationState, Session)   \
  X(C_SetOperationState, Session)   \
  X(C_Login, Session)               \
  X(C_Logout, Session)              \
  X(C_CreateObject, Session)        \
  X(C_CopyObject, Session)          \
  X(C_DestroyObject, Session)       \
  X(C_GetObjectSize, Session)       \
  X(C_GetAttributeValue, Session)   \
  X(C_SetAttributeValue, Session)   \
  X(C_FindObjectsInit, Session)     \
  X(C_FindObjects, Session)         \
  X(C_FindObjectsFinal, Session)    \
  X(C_EncryptInit, Session)         \
  X(C_Encrypt, Session)             \
  X(C_EncryptUpdate, Session)       \
  X(C_EncryptFinal, Session)        \
  X(C_DecryptInit, Session)         \
  X(C_Decrypt, Session)             \
  X(C_DecryptUpdate, Session)       \
  X(C_DecryptFinal, Session)        \
  X(C_DigestInit, Session)          \
  X(C_Digest, Session)              \
  X(C_DigestUpdate, Session)        \
  X(C_DigestKey, Session)           \
  X(C_DigestFinal, Session)         \
  X(C_SignInit, Session)            \
  X(C_Sign, Session)                \
  X(C_SignUpdate, Session)          \
  X(C_SignFinal, Session)           \
  X(C_SignRecoverInit, Session)     \
  X(C_SignRecover, Session)         \
  X(C_VerifyInit, Session)          \
  X(C_Verify, Session)              \
  X(C_VerifyUpdate, Session)        \
  X(C_VerifyFinal, Session)         \
  X(C_VerifyRecoverInit, Session)   \
  X(C_VerifyRecover, Session)       \
  X(C_DigestEncryptUpdate, Session) \
  X(C_DecryptDigestUpdate, Session) \
  X(C_SignEncryptUpdate, Session)   \
  X(C_DecryptVerifyUpdate, Session) \
  X(C_GenerateKey, Session)         \
  X(C_GenerateKeyPair, Session)     \
  X(C_WrapKey, Session)             \
  X(C_UnwrapKey, Session)           \
  X(C_DeriveKey, Session)           \
  X(C_SeedRandom, Session)          \
  X(C_GenerateRandom, Session)      \
  X(C_GetFunctionStatus, Session)   \
  X(C_CancelFunction, Session)      \
  X(C_WaitForSlotEvent, Module)

enum class Call : std::size_t {
#define P2PCP_FAULT_ENUM(name, kind) name,
  P2PCP_FAULT_CALLS(P2PCP_FAULT_ENUM)
#undef P2PCP_FAULT_ENUM
};

struct CallInfo {
  std::string_view name;
  CallKind kind;
};

inline constexpr std::array kCalls{
#define P2PCP_FAULT_INFO(name, kind) CallInfo{#name, CallKind::kind},
    P2PCP_FAULT_CALLS(P2PCP_FAULT_INFO)
#undef P2PCP_FAULT_INFO
};
// NOLINTEND(cppcoreguidelines-macro-usage)

inline constexpr std::size_t kCallCount = kCalls.size();
static_assert(kCallCount == 68, "PKCS#11 2.40 has 68 functions in its list");

constexpr const CallInfo& infoOf(Call call) noexcept {
  return kCalls[static_cast<std::size_t>(call)];
}

// The call with this exact name ("C_Sign"), or nullopt.
constexpr std::optional<Call> callNamed(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kCallCount; ++i) {
    if (kCalls[i].name == name) {
      return static_cast<Call>(i);
    }
  }
  return std::nullopt;
}

}  // namespace p2pcp::testing::fault
