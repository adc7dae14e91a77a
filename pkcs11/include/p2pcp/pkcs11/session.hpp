// SPDX-License-Identifier: Apache-2.0
#pragma once
// A move-only PKCS#11 session. The destructor closes it and never throws.

#include <p11-kit/pkcs11.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "p2pcp/common/bytes.hpp"
#include "p2pcp/pkcs11/module.hpp"

namespace p2pcp::pkcs11 {

class Session {
 public:
  Session(std::shared_ptr<Module> module, CK_SLOT_ID slot, bool readWrite);
  Session(Session&& other) noexcept;
  Session& operator=(Session&& other) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  [[nodiscard]] CK_SESSION_HANDLE handle() const noexcept { return handle_; }
  [[nodiscard]] CK_SLOT_ID slot() const noexcept { return slot_; }
  [[nodiscard]] CK_FUNCTION_LIST* fn() const noexcept { return module_->functions(); }
  [[nodiscard]] const std::shared_ptr<Module>& module() const noexcept { return module_; }

  // C_Login(CKU_USER or CKU_CONTEXT_SPECIFIC). pin == nullopt uses the protected
  // authentication path (PIN pad): C_Login with a NULL PIN.
  void login(CK_USER_TYPE userType, const std::optional<SecureString>& pin);
  void logout() noexcept;
  [[nodiscard]] CK_STATE state() const;

  [[nodiscard]] std::vector<CK_OBJECT_HANDLE> findObjects(std::span<CK_ATTRIBUTE> attributes) const;
  // nullopt when the attribute is absent or not readable (CKR_ATTRIBUTE_TYPE_INVALID,
  // CKR_ATTRIBUTE_SENSITIVE); other failures throw.
  [[nodiscard]] std::optional<Bytes> attribute(CK_OBJECT_HANDLE object,
                                               CK_ATTRIBUTE_TYPE type) const;
  [[nodiscard]] std::optional<CK_ULONG> ulongAttribute(CK_OBJECT_HANDLE object,
                                                       CK_ATTRIBUTE_TYPE type) const;
  [[nodiscard]] std::optional<bool> boolAttribute(CK_OBJECT_HANDLE object,
                                                  CK_ATTRIBUTE_TYPE type) const;

  // C_SignInit + C_Sign (two-call size query).
  [[nodiscard]] Bytes sign(const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key,
                           ByteView data) const;
  // C_Sign alone, after C_SignInit and a context-specific login (CKA_ALWAYS_AUTHENTICATE).
  [[nodiscard]] Bytes signAfterInit(ByteView data) const;
  // C_DecryptInit + C_Decrypt; the plaintext is a secret.
  [[nodiscard]] SecureBytes decrypt(const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key,
                                    ByteView data) const;
  [[nodiscard]] SecureBytes decryptAfterInit(ByteView data) const;
  // C_DeriveKey with CKM_ECDH1_DERIVE (CKD_NULL) into a session-only generic secret of
  // `length` bytes, reads its CKA_VALUE, destroys the object, returns the value.
  [[nodiscard]] SecureBytes deriveEcdh(CK_OBJECT_HANDLE key, ByteView peerPoint,
                                       CK_ULONG length) const;

  [[nodiscard]] CK_OBJECT_HANDLE createObject(std::span<CK_ATTRIBUTE> attributes) const;
  void destroyObject(CK_OBJECT_HANDLE object) const;
  [[nodiscard]] std::pair<CK_OBJECT_HANDLE, CK_OBJECT_HANDLE> generateKeyPair(
      const CK_MECHANISM& mechanism, std::span<CK_ATTRIBUTE> publicTemplate,
      std::span<CK_ATTRIBUTE> privateTemplate) const;
  [[nodiscard]] Bytes generateRandom(std::size_t length) const;

 private:
  void close() noexcept;
  std::shared_ptr<Module> module_;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE handle_ = CK_INVALID_HANDLE;
};

}  // namespace p2pcp::pkcs11
