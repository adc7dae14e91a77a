// SPDX-License-Identifier: Apache-2.0
#pragma once
// Plain descriptions of tokens and keys, as the agent reports them.

#include <p11-kit/pkcs11.h>

#include <optional>
#include <string>
#include <string_view>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp::pkcs11 {

enum class KeyType { Rsa, EcP256, EcP384, Ed25519 };
// "rsa", "ec-p256", "ec-p384", "ed25519" (the names the CLI and protocol use).
std::string_view keyTypeName(KeyType type) noexcept;
std::optional<KeyType> keyTypeFromName(std::string_view name) noexcept;

// The user PIN's state as the token reports it in CK_TOKEN_INFO.flags.
enum class PinState { Ok, CountLow, FinalTry, Locked, NotInitialized };
// "ok", "countLow", "finalTry", "locked", "notInitialized".
std::string_view pinStateName(PinState state) noexcept;
PinState pinStateFromFlags(CK_FLAGS tokenFlags) noexcept;

enum class SignAlgorithm { RsaPkcs1Sha256, RsaPssSha256, EcdsaSha256, EcdsaSha384, Ed25519 };
// "rsa-pkcs1-sha256", "rsa-pss-sha256", "ecdsa-sha256", "ecdsa-sha384", "ed25519".
std::string_view signAlgorithmName(SignAlgorithm algorithm) noexcept;
std::optional<SignAlgorithm> signAlgorithmFromName(std::string_view name) noexcept;

struct TokenDescription {
  std::string uri;  // pkcs11:model=...;manufacturer=...;serial=...;token=...
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial;
  std::string moduleName;
  CK_SLOT_ID slot = 0;
  bool loginRequired = false;
  bool protectedAuthenticationPath = false;  // PIN pad: the PIN is typed on the reader
  bool writeProtected = false;
  PinState pinState = PinState::Ok;
};

struct KeyDescription {
  std::string uri;       // PKCS#11 URI of the private key (token, id, object, type=private)
  std::string tokenUri;  // URI of the token that holds it
  std::string label;
  Bytes id;
  KeyType type = KeyType::Rsa;
  std::size_t bits = 0;
  Bytes spki;                       // DER SubjectPublicKeyInfo
  bool alwaysAuthenticate = false;  // CKA_ALWAYS_AUTHENTICATE: PIN for every use
  bool sensitive = true;
  bool extractable = false;
  bool canSign = false;
  bool canDerive = false;
  bool canDecrypt = false;
  std::optional<Bytes> certificate;  // DER X.509, when the token has one with the same CKA_ID
};

}  // namespace p2pcp::pkcs11
