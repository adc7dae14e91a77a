// SPDX-License-Identifier: Apache-2.0
#pragma once
// One token in one slot, with the session the agent keeps open on it.
// Not thread-safe: the agent serialises all access to a token.

#include <openssl/evp.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/module.hpp"
#include "p2pcp/pkcs11/session.hpp"
#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::pkcs11 {

class Token {
 public:
  Token(std::shared_ptr<Module> module, CK_SLOT_ID slot);

  // Re-reads CK_TOKEN_INFO (the PIN state changes after every login attempt).
  [[nodiscard]] TokenDescription describe() const;
  [[nodiscard]] CK_TOKEN_INFO tokenInfo() const;
  // The token information of the last tokenInfo()/describe() call or inventory scan:
  // identity fields (label, serial, model) for URI matching without a C_GetTokenInfo.
  [[nodiscard]] const CK_TOKEN_INFO& lastTokenInfo() const noexcept { return info_; }
  void setLastTokenInfo(const CK_TOKEN_INFO& info) noexcept { info_ = info; }
  // Whether the token's session is logged in. Asks the slot first, so a card
  // pulled and put back since the last call (its session and login died with
  // it) is noticed here rather than by the next operation.
  [[nodiscard]] bool loggedIn() const;
  [[nodiscard]] const std::shared_ptr<Module>& module() const noexcept { return module_; }
  [[nodiscard]] CK_SLOT_ID slot() const noexcept { return slot_; }

  // C_Login(CKU_USER). nullopt: protected authentication path (PIN pad).
  // CKR_USER_ALREADY_LOGGED_IN counts as success. Never retries.
  void login(const std::optional<SecureString>& pin);
  void logout() noexcept;

  // Every private key on the token with its public half (public-key object,
  // or certificate). Does not use libp11, so tokens holding Ed25519 keys work.
  // Cached: the list is read once, and again after invalidateKeys() or key generation.
  [[nodiscard]] std::vector<KeyDescription> keys() const;
  void invalidateKeys() noexcept;

  // Signs a whole message. Hashing is done in software where the token has only
  // the raw mechanism (CKM_RSA_PKCS with DigestInfo, CKM_ECDSA). ECDSA results
  // are DER (SEQUENCE of r, s); RSA and Ed25519 results are the raw signature.
  // contextPin is used for keys with CKA_ALWAYS_AUTHENTICATE (CKU_CONTEXT_SPECIFIC).
  Bytes sign(const KeyDescription& key, SignAlgorithm algorithm, ByteView message,
             const std::optional<SecureString>& contextPin = std::nullopt) const;
  // ECDH (CKM_ECDH1_DERIVE, CKD_NULL) with an uncompressed peer point (04||x||y);
  // returns the x-coordinate of the shared point (field-size bytes).
  SecureBytes deriveEcdh(const KeyDescription& key, ByteView peerPoint,
                         const std::optional<SecureString>& contextPin = std::nullopt) const;
  // RSA-OAEP with MGF1 over the same hash, empty label. SHA-256 is the default;
  // SHA-1 exists because SoftHSM2 2.6 (and older cards) implement nothing else.
  enum class OaepHash { Sha1, Sha256 };
  SecureBytes decryptOaep(const KeyDescription& key, ByteView ciphertext,
                          OaepHash hash = OaepHash::Sha256,
                          const std::optional<SecureString>& contextPin = std::nullopt) const;

  // Whether the private key needs a PIN for every use (CKA_ALWAYS_AUTHENTICATE), read
  // from the key object itself (a key listed before login cannot tell).
  [[nodiscard]] bool needsContextLogin(const KeyDescription& key) const;

  // Generates a key pair on the token: private key CKA_TOKEN, CKA_PRIVATE,
  // CKA_SENSITIVE true, CKA_EXTRACTABLE false. RSA keys are 2048 bits unless given.
  KeyDescription generateKeyPair(KeyType type, const std::string& label,
                                 std::size_t rsaBits = 2048);
  // Imports a software key pair (test fixtures): same attributes as generated keys.
  KeyDescription importKeyPair(EVP_PKEY* key, const std::string& label, ByteView id);

 private:
  struct PrivateKeyHandle {
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    bool alwaysAuthenticate = false;
  };

  Session& session() const;  // reopens when the token's session was lost
  // Runs f; a failure that means the token went away drops the session and caches,
  // so the next call opens a new session instead of failing forever.
  template <typename F>
  auto guarded(F&& f) const {
    try {
      return f();
    } catch (const Pkcs11Error& e) {
      if (e.sessionBroken()) {
        session_.reset();
        handles_.clear();
        keys_.reset();
      }
      throw;
    }
  }
  // Runs operation(handle of the key's private object), looking the handle up again once if stale.
  template <typename Operation>
  auto withKeyHandle(const KeyDescription& key, Operation&& operation) const;
  [[nodiscard]] PrivateKeyHandle findPrivateKey(const KeyDescription& key) const;
  [[nodiscard]] std::vector<KeyDescription> listKeys() const;
  static void describePublicHalf(const Session& s, CK_OBJECT_HANDLE object, CK_ULONG keyType,
                                 KeyDescription& key);
  KeyDescription findGenerated(ByteView id);

  std::shared_ptr<Module> module_;
  CK_SLOT_ID slot_;
  mutable std::optional<Session> session_;
  mutable CK_TOKEN_INFO info_{};
  mutable std::optional<std::vector<KeyDescription>> keys_;
  mutable std::map<std::string, PrivateKeyHandle> handles_;  // by key URI
};

// What a token's CK_TOKEN_INFO says about it, as the agent describes tokens.
TokenDescription describeTokenInfo(const CK_TOKEN_INFO& info, CK_SLOT_ID slot,
                                   const std::string& moduleName);

// DER SubjectPublicKeyInfo built from a public key's PKCS#11 attributes.
Bytes spkiFromRsa(ByteView modulus, ByteView publicExponent);
// ecParams: DER OID of the curve (or the PrintableString "edwards25519");
// ecPoint: CKA_EC_POINT, either DER OCTET STRING-wrapped or raw.
Bytes spkiFromEc(ByteView ecParams, ByteView ecPoint, KeyType* typeOut);
// The DER CKA_EC_PARAMS (curve OID) for an elliptic-curve key type.
ByteView ecParamsOf(KeyType type);
// Raw r||s (PKCS#11 ECDSA output) to DER ECDSA-Sig-Value.
Bytes ecdsaRawToDer(ByteView raw);

}  // namespace p2pcp::pkcs11
