// SPDX-License-Identifier: Apache-2.0
#include "write_key.hpp"

#include <openssl/crypto.h>
#include <sodium.h>

#include <stdexcept>

#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::scheme {

namespace {

static_assert(crypto_sign_PUBLICKEYBYTES == Ed25519WriteKey::kPublicKeyBytes);
static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_SEEDBYTES == 32);
static_assert(crypto_sign_BYTES == Ed25519WriteKey::kSignatureBytes);

// sodium_init is thread-safe and idempotent; a static makes it run once.
void requireSodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) {
    throw std::runtime_error("libsodium could not be initialised");
  }
}

}  // namespace

Ed25519WriteKey::Ed25519WriteKey(ByteView seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    throw SchemeError(SchemeError::Kind::BadInput, "an Ed25519 seed has 32 bytes");
  }
  requireSodium();
  if (crypto_sign_seed_keypair(publicKey_.data(), secretKey_.data(), seed.data()) != 0) {
    throw std::runtime_error("crypto_sign_seed_keypair failed");
  }
}

Ed25519WriteKey::~Ed25519WriteKey() {
  OPENSSL_cleanse(secretKey_.data(), secretKey_.size());
}

Bytes Ed25519WriteKey::sign(ByteView message) const {
  Bytes signature(kSignatureBytes);
  unsigned long long length = 0;  // NOLINT(google-runtime-int): libsodium's type
  if (crypto_sign_detached(signature.data(), &length, message.data(), message.size(),
                           secretKey_.data()) != 0 ||
      length != kSignatureBytes) {
    throw std::runtime_error("crypto_sign_detached failed");
  }
  return signature;
}

Bytes ed25519Spki(const std::array<std::uint8_t, Ed25519WriteKey::kPublicKeyBytes>& publicKey) {
  // A fixed prefix and the 32-byte key: no encoder lookup needed.
  static constexpr std::array<std::uint8_t, 12> kPrefix{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                        0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
  Bytes spki(kPrefix.begin(), kPrefix.end());
  spki.insert(spki.end(), publicKey.begin(), publicKey.end());
  return spki;
}

}  // namespace p2pcp::scheme
