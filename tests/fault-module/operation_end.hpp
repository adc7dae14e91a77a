// SPDX-License-Identifier: Apache-2.0
#pragma once
// PKCS#11 says a call that fails during a cryptographic operation (other than
// with CKR_BUFFER_TOO_SMALL) ends that operation: after a failed C_Sign the
// next C_SignInit must work. A fault the module makes up never reaches the
// real module, whose operation would stay active (CKR_OPERATION_ACTIVE at the
// next init, which no real token would answer). So for each call that can end
// an operation, Ending<call>::finish ends the real one the only way PKCS#11
// 2.40 has: it finishes it, into a scratch buffer, and drops the result.
// Not covered: the dual-function updates (C_DigestEncryptUpdate, ...).

#include <p11-kit/pkcs11.h>

#include <vector>

#include "pkcs11_calls.hpp"

namespace p2pcp::testing::fault {

// The calls that do not end an operation.
template <Call C>
struct Ending {
  static constexpr bool ends = false;
};

// A single-part call, e.g. C_Sign(session, data, length, signature, signatureLength):
// made again with the same input and a scratch output.
template <auto Single>
struct EndBySameCall {
  static constexpr bool ends = true;
  static void finish(const CK_FUNCTION_LIST& real, CK_SESSION_HANDLE session, CK_BYTE_PTR input,
                     CK_ULONG inputLength, CK_BYTE_PTR /*output*/, CK_ULONG_PTR /*outputLength*/) {
    CK_ULONG length = 0;
    if ((real.*Single)(session, input, inputLength, nullptr, &length) != CKR_OK) {
      return;  // that failure has ended it
    }
    std::vector<CK_BYTE> scratch(length + 1);
    (void)(real.*Single)(session, input, inputLength, scratch.data(), &length);
  }
};

// A part or a final call: the operation is finished by its final call into scratch.
template <auto Final>
struct EndByFinal {
  static constexpr bool ends = true;
  template <typename... Arguments>
  static void finish(const CK_FUNCTION_LIST& real, CK_SESSION_HANDLE session,
                     Arguments... /*the failed call's own*/) {
    CK_ULONG length = 0;
    if ((real.*Final)(session, nullptr, &length) != CKR_OK) {
      return;
    }
    std::vector<CK_BYTE> scratch(length + 1);
    (void)(real.*Final)(session, scratch.data(), &length);
  }
};

// Verification has no output: C_Verify and C_VerifyFinal are made again as
// they were; a failed C_VerifyUpdate is ended by a C_VerifyFinal that fails.
struct EndVerify {
  static constexpr bool ends = true;
  static void finish(const CK_FUNCTION_LIST& real, CK_SESSION_HANDLE session, CK_BYTE_PTR data,
                     CK_ULONG dataLength, CK_BYTE_PTR signature, CK_ULONG signatureLength) {
    (void)real.C_Verify(session, data, dataLength, signature, signatureLength);
  }
};
struct EndVerifyFinal {
  static constexpr bool ends = true;
  static void finish(const CK_FUNCTION_LIST& real, CK_SESSION_HANDLE session, CK_BYTE_PTR signature,
                     CK_ULONG signatureLength) {
    (void)real.C_VerifyFinal(session, signature, signatureLength);
  }
};
struct EndVerifyUpdate {
  static constexpr bool ends = true;
  static void finish(const CK_FUNCTION_LIST& real, CK_SESSION_HANDLE session, CK_BYTE_PTR /*part*/,
                     CK_ULONG /*partLength*/) {
    CK_BYTE wrong = 0;
    (void)real.C_VerifyFinal(session, &wrong, 1);
  }
};

// clang-format off
template <> struct Ending<Call::C_Encrypt> : EndBySameCall<&CK_FUNCTION_LIST::C_Encrypt> {};
template <> struct Ending<Call::C_Decrypt> : EndBySameCall<&CK_FUNCTION_LIST::C_Decrypt> {};
template <> struct Ending<Call::C_Digest> : EndBySameCall<&CK_FUNCTION_LIST::C_Digest> {};
template <> struct Ending<Call::C_Sign> : EndBySameCall<&CK_FUNCTION_LIST::C_Sign> {};
template <> struct Ending<Call::C_SignRecover> : EndBySameCall<&CK_FUNCTION_LIST::C_SignRecover> {};
template <> struct Ending<Call::C_VerifyRecover> : EndBySameCall<&CK_FUNCTION_LIST::C_VerifyRecover> {};
template <> struct Ending<Call::C_EncryptUpdate> : EndByFinal<&CK_FUNCTION_LIST::C_EncryptFinal> {};
template <> struct Ending<Call::C_EncryptFinal> : EndByFinal<&CK_FUNCTION_LIST::C_EncryptFinal> {};
template <> struct Ending<Call::C_DecryptUpdate> : EndByFinal<&CK_FUNCTION_LIST::C_DecryptFinal> {};
template <> struct Ending<Call::C_DecryptFinal> : EndByFinal<&CK_FUNCTION_LIST::C_DecryptFinal> {};
template <> struct Ending<Call::C_DigestUpdate> : EndByFinal<&CK_FUNCTION_LIST::C_DigestFinal> {};
template <> struct Ending<Call::C_DigestKey> : EndByFinal<&CK_FUNCTION_LIST::C_DigestFinal> {};
template <> struct Ending<Call::C_DigestFinal> : EndByFinal<&CK_FUNCTION_LIST::C_DigestFinal> {};
template <> struct Ending<Call::C_SignUpdate> : EndByFinal<&CK_FUNCTION_LIST::C_SignFinal> {};
template <> struct Ending<Call::C_SignFinal> : EndByFinal<&CK_FUNCTION_LIST::C_SignFinal> {};
template <> struct Ending<Call::C_Verify> : EndVerify {};
template <> struct Ending<Call::C_VerifyUpdate> : EndVerifyUpdate {};
template <> struct Ending<Call::C_VerifyFinal> : EndVerifyFinal {};
// clang-format on

}  // namespace p2pcp::testing::fault
