// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/session.hpp"

#include <openssl/crypto.h>

#include <utility>

#include "p2pcp/pkcs11/error.hpp"

namespace p2pcp::pkcs11 {

Session::Session(std::shared_ptr<Module> module, CK_SLOT_ID slot, bool readWrite)
    : module_(std::move(module)), slot_(slot) {
  CK_FLAGS flags = CKF_SERIAL_SESSION;
  if (readWrite) {
    flags |= CKF_RW_SESSION;
  }
  check(fn()->C_OpenSession(slot, flags, nullptr, nullptr, &handle_), "C_OpenSession");
}

Session::Session(Session&& other) noexcept
    : module_(std::move(other.module_)),
      slot_(other.slot_),
      handle_(std::exchange(other.handle_, CK_INVALID_HANDLE)) {}

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    close();
    module_ = std::move(other.module_);
    slot_ = other.slot_;
    handle_ = std::exchange(other.handle_, CK_INVALID_HANDLE);
  }
  return *this;
}

Session::~Session() {
  close();
}

void Session::close() noexcept {
  if (handle_ != CK_INVALID_HANDLE && module_) {
    // Errors are ignored: the session may already be gone with the token.
    (void)fn()->C_CloseSession(handle_);
  }
  handle_ = CK_INVALID_HANDLE;
}

void Session::login(CK_USER_TYPE userType, const std::optional<SecureString>& pin) {
  CK_RV rv = CKR_OK;
  if (pin) {
    // PKCS#11 takes a non-const pointer; the module does not keep it.
    rv = fn()->C_Login(handle_, userType,
                       reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(pin->data())),
                       static_cast<CK_ULONG>(pin->size()));
  } else {
    rv = fn()->C_Login(handle_, userType, nullptr, 0);
  }
  if (rv == CKR_USER_ALREADY_LOGGED_IN && userType == CKU_USER) {
    return;
  }
  check(rv, "C_Login");
}

void Session::logout() noexcept {
  (void)fn()->C_Logout(handle_);
}

CK_STATE Session::state() const {
  CK_SESSION_INFO info{};
  check(fn()->C_GetSessionInfo(handle_, &info), "C_GetSessionInfo");
  return info.state;
}

std::vector<CK_OBJECT_HANDLE> Session::findObjects(std::span<CK_ATTRIBUTE> attributes) const {
  check(
      fn()->C_FindObjectsInit(handle_, attributes.data(), static_cast<CK_ULONG>(attributes.size())),
      "C_FindObjectsInit");
  std::vector<CK_OBJECT_HANDLE> found;
  CK_RV rv = CKR_OK;
  while (true) {
    std::array<CK_OBJECT_HANDLE, 32> batch{};
    CK_ULONG count = 0;
    rv = fn()->C_FindObjects(handle_, batch.data(), batch.size(), &count);
    if (rv != CKR_OK || count == 0) {
      break;
    }
    found.insert(found.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(count));
  }
  // Always finish the search, or the session stays in the find state.
  const CK_RV finalRv = fn()->C_FindObjectsFinal(handle_);
  check(rv, "C_FindObjects");
  check(finalRv, "C_FindObjectsFinal");
  return found;
}

std::optional<Bytes> Session::attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const {
  CK_ATTRIBUTE query{type, nullptr, 0};
  CK_RV rv = fn()->C_GetAttributeValue(handle_, object, &query, 1);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
      query.ulValueLen == ~CK_ULONG{0} /* CK_UNAVAILABLE_INFORMATION */) {
    return std::nullopt;
  }
  check(rv, "C_GetAttributeValue");
  Bytes value(query.ulValueLen);
  query.pValue = value.data();
  rv = fn()->C_GetAttributeValue(handle_, object, &query, 1);
  check(rv, "C_GetAttributeValue");
  value.resize(query.ulValueLen);
  return value;
}

std::optional<CK_ULONG> Session::ulongAttribute(CK_OBJECT_HANDLE object,
                                                CK_ATTRIBUTE_TYPE type) const {
  const auto value = attribute(object, type);
  if (!value || value->size() != sizeof(CK_ULONG)) {
    return std::nullopt;
  }
  CK_ULONG out = 0;
  std::memcpy(&out, value->data(), sizeof out);
  return out;
}

std::optional<bool> Session::boolAttribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const {
  const auto value = attribute(object, type);
  if (!value || value->size() != sizeof(CK_BBOOL)) {
    return std::nullopt;
  }
  return (*value)[0] != CK_FALSE;
}

Bytes Session::sign(const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key, ByteView data) const {
  auto mech = mechanism;
  check(fn()->C_SignInit(handle_, &mech, key), "C_SignInit");
  return signAfterInit(data);
}

Bytes Session::signAfterInit(ByteView data) const {
  auto* input = const_cast<CK_BYTE_PTR>(data.data());
  CK_ULONG length = 0;
  check(fn()->C_Sign(handle_, input, static_cast<CK_ULONG>(data.size()), nullptr, &length),
        "C_Sign");
  Bytes signature(length);
  check(fn()->C_Sign(handle_, input, static_cast<CK_ULONG>(data.size()), signature.data(), &length),
        "C_Sign");
  signature.resize(length);
  return signature;
}

SecureBytes Session::decrypt(const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key,
                             ByteView data) const {
  auto mech = mechanism;
  check(fn()->C_DecryptInit(handle_, &mech, key), "C_DecryptInit");
  return decryptAfterInit(data);
}

SecureBytes Session::decryptAfterInit(ByteView data) const {
  auto* input = const_cast<CK_BYTE_PTR>(data.data());
  CK_ULONG length = 0;
  check(fn()->C_Decrypt(handle_, input, static_cast<CK_ULONG>(data.size()), nullptr, &length),
        "C_Decrypt");
  SecureBytes plaintext(length);
  check(fn()->C_Decrypt(handle_, input, static_cast<CK_ULONG>(data.size()), plaintext.data(),
                        &length),
        "C_Decrypt");
  plaintext.resize(length);
  return plaintext;
}

SecureBytes Session::deriveEcdh(CK_OBJECT_HANDLE key, ByteView peerPoint, CK_ULONG length) const {
  CK_ECDH1_DERIVE_PARAMS params{CKD_NULL, 0, nullptr, static_cast<CK_ULONG>(peerPoint.size()),
                                const_cast<CK_BYTE_PTR>(peerPoint.data())};
  CK_MECHANISM mechanism{CKM_ECDH1_DERIVE, &params, sizeof params};
  CK_OBJECT_CLASS secretClass = CKO_SECRET_KEY;
  CK_KEY_TYPE secretType = CKK_GENERIC_SECRET;
  CK_BBOOL no = CK_FALSE;
  CK_BBOOL yes = CK_TRUE;
  // A session object we can read back: the shared secret is hashed into the root at
  // once and the object destroyed, so it lives on the token only for this call.
  std::array attributes{
      CK_ATTRIBUTE{CKA_CLASS, &secretClass, sizeof secretClass},
      CK_ATTRIBUTE{CKA_KEY_TYPE, &secretType, sizeof secretType},
      CK_ATTRIBUTE{CKA_TOKEN, &no, sizeof no},
      CK_ATTRIBUTE{CKA_SENSITIVE, &no, sizeof no},
      CK_ATTRIBUTE{CKA_EXTRACTABLE, &yes, sizeof yes},
      CK_ATTRIBUTE{CKA_VALUE_LEN, &length, sizeof length},
  };
  CK_OBJECT_HANDLE derived = CK_INVALID_HANDLE;
  check(fn()->C_DeriveKey(handle_, &mechanism, key, attributes.data(),
                          static_cast<CK_ULONG>(attributes.size()), &derived),
        "C_DeriveKey");
  SecureBytes value(length);
  CK_ATTRIBUTE read{CKA_VALUE, value.data(), length};
  const CK_RV rv = fn()->C_GetAttributeValue(handle_, derived, &read, 1);
  (void)fn()->C_DestroyObject(handle_, derived);
  check(rv, "C_GetAttributeValue");
  value.resize(read.ulValueLen);
  return value;
}

CK_OBJECT_HANDLE Session::createObject(std::span<CK_ATTRIBUTE> attributes) const {
  CK_OBJECT_HANDLE object = CK_INVALID_HANDLE;
  check(fn()->C_CreateObject(handle_, attributes.data(), static_cast<CK_ULONG>(attributes.size()),
                             &object),
        "C_CreateObject");
  return object;
}

void Session::destroyObject(CK_OBJECT_HANDLE object) const {
  check(fn()->C_DestroyObject(handle_, object), "C_DestroyObject");
}

std::pair<CK_OBJECT_HANDLE, CK_OBJECT_HANDLE> Session::generateKeyPair(
    const CK_MECHANISM& mechanism, std::span<CK_ATTRIBUTE> publicTemplate,
    std::span<CK_ATTRIBUTE> privateTemplate) const {
  auto mech = mechanism;
  CK_OBJECT_HANDLE publicKey = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE privateKey = CK_INVALID_HANDLE;
  check(fn()->C_GenerateKeyPair(
            handle_, &mech, publicTemplate.data(), static_cast<CK_ULONG>(publicTemplate.size()),
            privateTemplate.data(), static_cast<CK_ULONG>(privateTemplate.size()), &publicKey,
            &privateKey),
        "C_GenerateKeyPair");
  return {publicKey, privateKey};
}

Bytes Session::generateRandom(std::size_t length) const {
  Bytes out(length);
  check(fn()->C_GenerateRandom(handle_, out.data(), static_cast<CK_ULONG>(length)),
        "C_GenerateRandom");
  return out;
}

}  // namespace p2pcp::pkcs11
