// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Ed25519 write key of a private block (docs/scheme.md, "Private storage
// keys, contents and write keys"), made from its 32-byte seed with libsodium.
// OpenSSL 3 gives the same signatures (Ed25519 is deterministic; the test
// vectors hold both to them), but builds a provider key object for every seed,
// which cost 2.5 times libsodium's time in a batch of private block writes.

#include <array>
#include <cstdint>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp::scheme {

class Ed25519WriteKey {
 public:
  static constexpr std::size_t kPublicKeyBytes = 32;
  static constexpr std::size_t kSignatureBytes = 64;

  // Throws SchemeError for a seed that is not 32 bytes.
  explicit Ed25519WriteKey(ByteView seed);
  ~Ed25519WriteKey();
  Ed25519WriteKey(const Ed25519WriteKey&) = delete;
  Ed25519WriteKey& operator=(const Ed25519WriteKey&) = delete;
  Ed25519WriteKey(Ed25519WriteKey&&) = delete;
  Ed25519WriteKey& operator=(Ed25519WriteKey&&) = delete;

  [[nodiscard]] const std::array<std::uint8_t, kPublicKeyBytes>& publicKey() const noexcept {
    return publicKey_;
  }
  [[nodiscard]] Bytes sign(ByteView message) const;

 private:
  std::array<std::uint8_t, kPublicKeyBytes> publicKey_{};
  // libsodium's secret key: the seed and the public key; wiped by the destructor.
  std::array<std::uint8_t, 64> secretKey_{};
};

// The DER SubjectPublicKeyInfo of an Ed25519 public key (RFC 8410).
Bytes ed25519Spki(const std::array<std::uint8_t, Ed25519WriteKey::kPublicKeyBytes>& publicKey);

}  // namespace p2pcp::scheme
