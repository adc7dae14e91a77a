// SPDX-License-Identifier: Apache-2.0
#pragma once
// The p2pcp v1 key-derivation scheme (docs/scheme.md). Pure software: the one
// token operation (the root signature or ECDH) is done by the caller, which
// hands its result to rootFromTokenResult().
//
// Labels end with a 0 byte; strings are UTF-8; H = SHA-256.

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "p2pcp/common/bytes.hpp"
#include "p2pcp/common/digest.hpp"
#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::scheme {

using namespace std::string_view_literals;

inline constexpr std::string_view kPublicLabel = "p2pcp/v1/public\0"sv;
inline constexpr std::string_view kRootLabel = "p2pcp/v1/root\0"sv;
inline constexpr std::string_view kEcdhPointLabel = "p2pcp/v1/ecdh-point\0"sv;
inline constexpr std::string_view kBlockLabel = "p2pcp/v1/block\0"sv;
inline constexpr std::string_view kLoginLabel = "p2pcp/v1/login\0"sv;
inline constexpr std::string_view kOriginLabel = "p2pcp/v1/origin\0"sv;
inline constexpr std::string_view kStorageInfo = "storage\0"sv;
inline constexpr std::string_view kSealInfo = "seal\0"sv;
inline constexpr std::string_view kWriteInfo = "write\0"sv;
// Every message the agent signs for the scheme starts with this; raw signing refuses it.
inline constexpr std::string_view kReservedPrefix = "p2pcp/"sv;

class SchemeError : public std::runtime_error {
 public:
  enum class Kind { BadInput, OpenFailed };
  SchemeError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// H(SPKI).
Sha256 fingerprint(ByteView spki);
// H("p2pcp/v1/public\0" || SPKI || uri).
Sha256 publicStorageKey(ByteView spki, std::string_view uri);

// The fixed message m = "p2pcp/v1/root\0" that RSA and Ed25519 keys sign.
ByteView rootMessage() noexcept;

// The fixed ECDH peer point Q for P-256 or P-384: x = H(label || curve name || counter)
// for the first one-byte counter that gives a point on the curve, with even y.
// Returned uncompressed (04 || x || y). Throws SchemeError(BadInput) for other types.
struct FixedPoint {
  Bytes uncompressed;
  std::uint8_t counter = 0;
};
const FixedPoint& ecdhFixedPoint(pkcs11::KeyType curve);

// root = H("p2pcp/v1/root\0" || result), result = the token's signature or ECDH x-coordinate.
SecureBytes rootFromTokenResult(ByteView result);

// Spaces. The root from rootFromTokenResult() is the person's whole space ("full access").
// A page with site access works in the space of its origin instead, whose root is
// originRoot(root, space); every private derivation below (privateStorageKey, sealKey,
// writeKeySeed, seal, open) takes that in place of the root. `space` is a canonical web
// origin, e.g. "https://app.example" (the agent chooses it; the scheme only takes the text).
//
// HMAC-SHA256(root, "p2pcp/v1/origin\0" || space). Throws SchemeError(BadInput) if root
// is not 32 bytes or space is empty or contains a 0 byte.
SecureBytes originRoot(ByteView root, std::string_view space);
// True iff uri starts with space followed by "/": the public uris a page with site access
// may sign for. No normalisation of either side; an empty space holds no uri.
bool isUriInSpace(std::string_view space, std::string_view uri) noexcept;

// HMAC-SHA256(root, "storage\0" || uri).
SecureBytes privateStorageKey(ByteView root, std::string_view uri);
// HKDF-SHA256(IKM = root, salt = empty, info = "seal\0" || uri), 32 bytes.
SecureBytes sealKey(ByteView root, std::string_view uri);
// HKDF-SHA256(IKM = root, salt = empty, info = "write\0" || uri), 32 bytes: an Ed25519 seed.
SecureBytes writeKeySeed(ByteView root, std::string_view uri);
// DER SPKI of the Ed25519 key with that seed.
Bytes writeKeySpki(ByteView seed);
// Ed25519 signature (64 bytes) of message by the key with that seed.
Bytes signWithWriteKey(ByteView seed, ByteView message);

// Both halves of a write: the Ed25519 signature and the SPKI of the key with that seed,
// from one key object (the public key is computed once).
struct WriteKeySignature {
  Bytes signature;
  Bytes spki;
};
WriteKeySignature signWithWriteKeyAndSpki(ByteView seed, ByteView message);

// The private derivations of one root (or site root) for many uris: keyed once, so
// that each uri costs two or three SHA-256 compressions rather than a lookup of the
// algorithm, a key schedule and an HKDF extract. Results equal the free functions'.
class RootDerivations {
 public:
  // Throws SchemeError(BadInput) if root is not 32 bytes.
  explicit RootDerivations(ByteView root);
  [[nodiscard]] SecureBytes privateStorageKey(std::string_view uri) const;
  [[nodiscard]] SecureBytes writeKeySeed(std::string_view uri) const;
  [[nodiscard]] SecureBytes sealKey(std::string_view uri) const;

 private:
  [[nodiscard]] SecureBytes expand(std::string_view label, std::string_view uri) const;
  std::unique_ptr<EVP_MAC_CTX, void (*)(EVP_MAC_CTX*)> storage_;  // HMAC keyed with the root
  std::unique_ptr<EVP_MAC_CTX, void (*)(EVP_MAC_CTX*)> expand_;   // HMAC keyed with HKDF's PRK
};

// "p2pcp/v1/block\0" || storageKey || seq (u64 big-endian) || H(payload).
Bytes blockMessage(ByteView storageKey, std::uint64_t seq, const Sha256& payloadHash);
// "p2pcp/v1/login\0" || origin || "\0" || indexServer || "\0" || nonce || timestamp (u64 BE).
// Throws SchemeError(BadInput) if origin or indexServer contains a 0 byte.
Bytes loginMessage(std::string_view origin, std::string_view indexServer, ByteView nonce,
                   std::uint64_t timestamp);

// Sealed private contents: version byte 0x01 || 12-byte random nonce || AES-256-GCM
// ciphertext || 16-byte tag, with AAD = "p2pcp/v1/seal\0" || uri.
inline constexpr std::uint8_t kSealVersion = 1;
Bytes seal(ByteView root, std::string_view uri, ByteView plaintext);
// Throws SchemeError(OpenFailed) when the box is malformed, for another uri, or tampered with.
SecureBytes open(ByteView root, std::string_view uri, ByteView sealed);

// True when a raw-signing request must be refused: it begins with "p2pcp/".
bool isReservedMessage(ByteView message) noexcept;

}  // namespace p2pcp::scheme
