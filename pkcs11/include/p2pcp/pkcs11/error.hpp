// SPDX-License-Identifier: Apache-2.0
#pragma once
// PKCS#11 return codes as typed errors. Every C_* call goes through check(),
// so a failure carries both the function name and the CKR_ name.

#include <p11-kit/pkcs11.h>

#include <string>
#include <system_error>

namespace p2pcp::pkcs11 {

// The error category whose values are CK_RV codes; message() is the CKR_ name.
const std::error_category& pkcs11Category() noexcept;

// "CKR_PIN_INCORRECT" for CKR_PIN_INCORRECT; "CKR_0x..." for unknown vendor codes.
std::string ckrName(CK_RV rv);

class Pkcs11Error : public std::system_error {
 public:
  Pkcs11Error(CK_RV rv, const std::string& function);
  [[nodiscard]] CK_RV rv() const noexcept { return static_cast<CK_RV>(code().value()); }
  [[nodiscard]] const std::string& function() const noexcept { return function_; }
  // True for codes that mean the token or its session went away (removal, reset).
  [[nodiscard]] bool tokenGone() const noexcept;
  // tokenGone(), or a device error: either way the session is not to be used again.
  [[nodiscard]] bool sessionBroken() const noexcept;

 private:
  std::string function_;
};

// Errors of this layer that are not a CK_RV: no such key, unsupported key type,
// a module that cannot be loaded, a malformed URI.
class LayerError : public std::runtime_error {
 public:
  enum class Kind {
    ModuleLoad,
    NoSuchToken,
    NoSuchKey,
    AmbiguousKey,
    BadUri,
    Unsupported,
    BadInput
  };
  LayerError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// Throws Pkcs11Error(rv, function) unless rv == CKR_OK.
inline void check(CK_RV rv, const char* function) {
  if (rv != CKR_OK) {
    throw Pkcs11Error(rv, function);
  }
}

}  // namespace p2pcp::pkcs11
