// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/scheme/scheme.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <array>

#include "p2pcp/common/encoding.hpp"
#include "p2pcp/common/ossl.hpp"
#include "write_key.hpp"

namespace p2pcp::scheme {

namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::string_view kSealAad = "p2pcp/v1/seal\0"sv;

Bytes concat(std::string_view label, std::string_view text) {
  Bytes out;
  append(out, label);
  append(out, text);
  return out;
}

SecureBytes hkdf(ByteView ikm, std::string_view label, std::string_view uri) {
  const ossl::EvpKdfPtr kdf(ossl::check(EVP_KDF_fetch(nullptr, "HKDF", nullptr), "EVP_KDF_fetch"));
  const ossl::EvpKdfCtxPtr ctx(ossl::check(EVP_KDF_CTX_new(kdf.get()), "EVP_KDF_CTX_new"));
  Bytes info = concat(label, uri);
  std::string digest = "SHA256";
  std::array params{
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      // OSSL_PARAM holds a non-const pointer, but the KDF only reads its key;
      // a mutable copy would be one more copy of the secret to wipe.
      // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast)
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()),
                                        ikm.size()),
      // No salt parameter: RFC 5869's empty salt (a block of zeros) is what the scheme uses.
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecureBytes out(kKeyBytes);
  ossl::check(EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()),
              "EVP_KDF_derive(HKDF)");
  return out;
}

void requireRoot(ByteView root) {
  if (root.size() != kKeyBytes) {
    throw SchemeError(SchemeError::Kind::BadInput, "a root secret has 32 bytes");
  }
}

// HMAC-SHA256(key, label || text).
SecureBytes hmac(ByteView key, std::string_view label, std::string_view text) {
  const ossl::EvpMacPtr mac(ossl::check(EVP_MAC_fetch(nullptr, "HMAC", nullptr), "EVP_MAC_fetch"));
  const ossl::EvpMacCtxPtr ctx(ossl::check(EVP_MAC_CTX_new(mac.get()), "EVP_MAC_CTX_new"));
  std::string digest = "SHA256";
  std::array params{OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
                    OSSL_PARAM_construct_end()};
  ossl::check(EVP_MAC_init(ctx.get(), key.data(), key.size(), params.data()), "EVP_MAC_init");
  const Bytes message = concat(label, text);
  ossl::check(EVP_MAC_update(ctx.get(), message.data(), message.size()), "EVP_MAC_update");
  SecureBytes out(kKeyBytes);
  std::size_t length = 0;
  ossl::check(EVP_MAC_final(ctx.get(), out.data(), &length, out.size()), "EVP_MAC_final");
  return out;
}

// An HMAC-SHA256 context keyed with `key`, to be duplicated per message.
std::unique_ptr<EVP_MAC_CTX, void (*)(EVP_MAC_CTX*)> keyedHmac(ByteView key) {
  const ossl::EvpMacPtr mac(ossl::check(EVP_MAC_fetch(nullptr, "HMAC", nullptr), "EVP_MAC_fetch"));
  std::unique_ptr<EVP_MAC_CTX, void (*)(EVP_MAC_CTX*)> ctx(
      ossl::check(EVP_MAC_CTX_new(mac.get()), "EVP_MAC_CTX_new"), &EVP_MAC_CTX_free);
  std::string digest = "SHA256";
  std::array params{OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
                    OSSL_PARAM_construct_end()};
  ossl::check(EVP_MAC_init(ctx.get(), key.data(), key.size(), params.data()), "EVP_MAC_init");
  return ctx;
}

// HMAC of label || text || suffix with a copy of a keyed context.
SecureBytes keyedMac(EVP_MAC_CTX* keyed, std::string_view label, std::string_view text,
                     ByteView suffix = {}) {
  const ossl::EvpMacCtxPtr ctx(ossl::check(EVP_MAC_CTX_dup(keyed), "EVP_MAC_CTX_dup"));
  for (const ByteView part : {asBytes(label), asBytes(text), suffix}) {
    ossl::check(EVP_MAC_update(ctx.get(), part.data(), part.size()), "EVP_MAC_update");
  }
  SecureBytes out(kKeyBytes);
  std::size_t length = 0;
  ossl::check(EVP_MAC_final(ctx.get(), out.data(), &length, out.size()), "EVP_MAC_final");
  return out;
}

}  // namespace

RootDerivations::RootDerivations(ByteView root)
    : storage_(nullptr, &EVP_MAC_CTX_free), expand_(nullptr, &EVP_MAC_CTX_free) {
  requireRoot(root);
  storage_ = keyedHmac(root);
  // HKDF-Extract with the empty salt (RFC 5869: HashLen zero bytes): PRK = HMAC(0^32, root).
  const std::array<std::uint8_t, kKeyBytes> zeroSalt{};
  const auto extract = keyedHmac(zeroSalt);
  const SecureBytes prk = keyedMac(extract.get(), {}, asChars(root));
  expand_ = keyedHmac(prk);
}

SecureBytes RootDerivations::privateStorageKey(std::string_view uri) const {
  return keyedMac(storage_.get(), kStorageInfo, uri);
}

// HKDF-Expand for 32 bytes is its first block: T(1) = HMAC(PRK, info || 0x01).
SecureBytes RootDerivations::expand(std::string_view label, std::string_view uri) const {
  static constexpr std::array<std::uint8_t, 1> kFirstBlock{1};
  return keyedMac(expand_.get(), label, uri, kFirstBlock);
}

SecureBytes RootDerivations::writeKeySeed(std::string_view uri) const {
  return expand(kWriteInfo, uri);
}

SecureBytes RootDerivations::sealKey(std::string_view uri) const {
  return expand(kSealInfo, uri);
}

Sha256 fingerprint(ByteView spki) {
  return sha256(spki);
}

Sha256 publicStorageKey(ByteView spki, std::string_view uri) {
  return Sha256Builder{}.add(kPublicLabel).add(spki).add(uri).finish();
}

ByteView rootMessage() noexcept {
  return asBytes(kRootLabel);
}

SecureBytes rootFromTokenResult(ByteView result) {
  const Sha256 digest = Sha256Builder{}.add(kRootLabel).add(result).finish();
  SecureBytes root(digest.begin(), digest.end());
  return root;
}

SecureBytes originRoot(ByteView root, std::string_view space) {
  requireRoot(root);
  // An empty space would be one every caller that forgot to set it shares; a 0 byte has
  // no place in an origin.
  if (space.empty() || space.find('\0') != std::string_view::npos) {
    throw SchemeError(SchemeError::Kind::BadInput, "a space is a non-empty origin without 0 bytes");
  }
  return hmac(root, kOriginLabel, space);
}

bool isUriInSpace(std::string_view space, std::string_view uri) noexcept {
  // "https://app.example.evil/x" starts with "https://app.example" too: the "/" right
  // after the space is what makes the uri the space's own.
  return !space.empty() && uri.size() > space.size() && uri.starts_with(space) &&
         uri[space.size()] == '/';
}

SecureBytes privateStorageKey(ByteView root, std::string_view uri) {
  requireRoot(root);
  return hmac(root, kStorageInfo, uri);
}

SecureBytes sealKey(ByteView root, std::string_view uri) {
  requireRoot(root);
  return hkdf(root, kSealInfo, uri);
}

SecureBytes writeKeySeed(ByteView root, std::string_view uri) {
  requireRoot(root);
  return hkdf(root, kWriteInfo, uri);
}

Bytes writeKeySpki(ByteView seed) {
  return ed25519Spki(Ed25519WriteKey(seed).publicKey());
}

Bytes signWithWriteKey(ByteView seed, ByteView message) {
  return Ed25519WriteKey(seed).sign(message);
}

WriteKeySignature signWithWriteKeyAndSpki(ByteView seed, ByteView message) {
  const Ed25519WriteKey key(seed);
  return {key.sign(message), ed25519Spki(key.publicKey())};
}

Bytes blockMessage(ByteView storageKey, std::uint64_t seq, const Sha256& payloadHash) {
  Bytes out;
  append(out, kBlockLabel);
  append(out, storageKey);
  appendU64BigEndian(out, seq);
  append(out, payloadHash);
  return out;
}

Bytes loginMessage(std::string_view origin, std::string_view indexServer, ByteView nonce,
                   std::uint64_t timestamp) {
  // A 0 byte inside a field would let one (origin, server) pair pose as another.
  if (origin.find('\0') != std::string_view::npos ||
      indexServer.find('\0') != std::string_view::npos) {
    throw SchemeError(SchemeError::Kind::BadInput,
                      "origin and index server must not contain a 0 byte");
  }
  Bytes out;
  append(out, kLoginLabel);
  append(out, origin);
  out.push_back(0);
  append(out, indexServer);
  out.push_back(0);
  append(out, nonce);
  appendU64BigEndian(out, timestamp);
  return out;
}

Bytes seal(ByteView root, std::string_view uri, ByteView plaintext) {
  const SecureBytes key = sealKey(root, uri);
  Bytes out(1 + kNonceBytes + plaintext.size() + kTagBytes);
  out[0] = kSealVersion;
  std::uint8_t* nonce = out.data() + 1;
  ossl::check(RAND_bytes(nonce, static_cast<int>(kNonceBytes)), "RAND_bytes");
  const Bytes aad = concat(kSealAad, uri);

  const ossl::EvpCipherCtxPtr ctx(ossl::check(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new"));
  ossl::check(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce),
              "EVP_EncryptInit_ex");
  int length = 0;
  ossl::check(
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, aad.data(), static_cast<int>(aad.size())),
      "EVP_EncryptUpdate(aad)");
  std::uint8_t* ciphertext = nonce + kNonceBytes;
  if (!plaintext.empty()) {
    ossl::check(EVP_EncryptUpdate(ctx.get(), ciphertext, &length, plaintext.data(),
                                  static_cast<int>(plaintext.size())),
                "EVP_EncryptUpdate");
  }
  int finalLength = 0;
  ossl::check(EVP_EncryptFinal_ex(ctx.get(), ciphertext + length, &finalLength),
              "EVP_EncryptFinal_ex");
  ossl::check(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                                  ciphertext + plaintext.size()),
              "EVP_CTRL_GCM_GET_TAG");
  return out;
}

SecureBytes open(ByteView root, std::string_view uri, ByteView sealed) {
  if (sealed.size() < 1 + kNonceBytes + kTagBytes || sealed[0] != kSealVersion) {
    throw SchemeError(SchemeError::Kind::OpenFailed, "not a sealed p2pcp v1 box");
  }
  const SecureBytes key = sealKey(root, uri);
  const std::uint8_t* nonce = sealed.data() + 1;
  const std::size_t ciphertextLength = sealed.size() - 1 - kNonceBytes - kTagBytes;
  const std::uint8_t* ciphertext = nonce + kNonceBytes;
  Bytes tag(ciphertext + ciphertextLength, ciphertext + ciphertextLength + kTagBytes);
  const Bytes aad = concat(kSealAad, uri);

  const ossl::EvpCipherCtxPtr ctx(ossl::check(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new"));
  ossl::check(EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce),
              "EVP_DecryptInit_ex");
  int length = 0;
  ossl::check(
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, aad.data(), static_cast<int>(aad.size())),
      "EVP_DecryptUpdate(aad)");
  SecureBytes plaintext(ciphertextLength);
  if (ciphertextLength > 0) {
    ossl::check(EVP_DecryptUpdate(ctx.get(), plaintext.data(), &length, ciphertext,
                                  static_cast<int>(ciphertextLength)),
                "EVP_DecryptUpdate");
  }
  ossl::check(
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()),
      "EVP_CTRL_GCM_SET_TAG");
  int finalLength = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + length, &finalLength) != 1) {
    ERR_clear_error();
    // The plaintext buffer is wiped when it goes out of scope; nothing unauthenticated escapes.
    throw SchemeError(SchemeError::Kind::OpenFailed, "the sealed box does not authenticate");
  }
  return plaintext;
}

bool isReservedMessage(ByteView message) noexcept {
  return asChars(message).starts_with(kReservedPrefix);
}

}  // namespace p2pcp::scheme
