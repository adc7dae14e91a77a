// SPDX-License-Identifier: Apache-2.0
// Public keys from PKCS#11 attributes, as DER SubjectPublicKeyInfo.
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>

#include <array>

#include "p2pcp/common/ossl.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/token.hpp"

namespace p2pcp::pkcs11 {

namespace {

constexpr std::array<std::uint8_t, 10> kOidP256{0x06, 0x08, 0x2a, 0x86, 0x48,
                                                0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr std::array<std::uint8_t, 7> kOidP384{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr std::array<std::uint8_t, 5> kOidEd25519{0x06, 0x03, 0x2b, 0x65, 0x70};
// SoftHSM2 reports Ed25519 keys with this PrintableString instead of the OID.
constexpr std::string_view kEd25519Name = "edwards25519";

bool equals(ByteView a, ByteView b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// CKA_EC_POINT is a DER OCTET STRING by the standard; some modules give the raw point.
Bytes unwrapPoint(ByteView point, std::size_t rawSize) {
  if (point.size() == rawSize && (rawSize == 32 || point[0] == 0x04)) {
    return {point.begin(), point.end()};
  }
  if (point.size() >= 2 && point[0] == 0x04) {
    std::size_t length = point[1];
    std::size_t header = 2;
    if (point[1] == 0x81 && point.size() >= 3) {
      length = point[2];
      header = 3;
    }
    if (header + length == point.size() && length == rawSize) {
      return {point.begin() + static_cast<std::ptrdiff_t>(header), point.end()};
    }
  }
  throw LayerError(LayerError::Kind::Unsupported, "unrecognised CKA_EC_POINT encoding");
}

KeyType curveOf(ByteView params) {
  if (equals(params, kOidP256)) {
    return KeyType::EcP256;
  }
  if (equals(params, kOidP384)) {
    return KeyType::EcP384;
  }
  if (equals(params, kOidEd25519)) {
    return KeyType::Ed25519;
  }
  // PrintableString (0x13) "edwards25519"
  if (params.size() == kEd25519Name.size() + 2 && params[0] == 0x13 &&
      params[1] == kEd25519Name.size() && asChars(params.subspan(2)) == kEd25519Name) {
    return KeyType::Ed25519;
  }
  throw LayerError(LayerError::Kind::Unsupported, "unsupported elliptic curve");
}

}  // namespace

ByteView ecParamsOf(KeyType type) {
  switch (type) {
    case KeyType::EcP256:
      return kOidP256;
    case KeyType::EcP384:
      return kOidP384;
    case KeyType::Ed25519:
      return kOidEd25519;
    case KeyType::Rsa:
      break;
  }
  throw LayerError(LayerError::Kind::Unsupported, "not an elliptic-curve key type");
}

Bytes spkiFromRsa(ByteView modulus, ByteView publicExponent) {
  ossl::BignumPtr n(ossl::check(
      BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr), "BN_bin2bn"));
  ossl::BignumPtr e(ossl::check(
      BN_bin2bn(publicExponent.data(), static_cast<int>(publicExponent.size()), nullptr),
      "BN_bin2bn"));
  ossl::ParamBldPtr builder(ossl::check(OSSL_PARAM_BLD_new(), "OSSL_PARAM_BLD_new"));
  ossl::check(OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()),
              "OSSL_PARAM_BLD_push_BN");
  ossl::check(OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()),
              "OSSL_PARAM_BLD_push_BN");
  ossl::ParamPtr params(
      ossl::check(OSSL_PARAM_BLD_to_param(builder.get()), "OSSL_PARAM_BLD_to_param"));
  ossl::EvpPkeyCtxPtr ctx(
      ossl::check(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), "EVP_PKEY_CTX_new"));
  ossl::check(EVP_PKEY_fromdata_init(ctx.get()), "EVP_PKEY_fromdata_init");
  EVP_PKEY* raw = nullptr;
  ossl::check(EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()),
              "EVP_PKEY_fromdata");
  const ossl::EvpPkeyPtr key(raw);
  return ossl::subjectPublicKeyInfo(key.get());
}

Bytes spkiFromEc(ByteView ecParams, ByteView ecPoint, KeyType* typeOut) {
  const KeyType type = curveOf(ecParams);
  if (typeOut != nullptr) {
    *typeOut = type;
  }
  if (type == KeyType::Ed25519) {
    const Bytes raw = unwrapPoint(ecPoint, 32);
    const ossl::EvpPkeyPtr key(
        ossl::check(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()),
                    "EVP_PKEY_new_raw_public_key"));
    return ossl::subjectPublicKeyInfo(key.get());
  }
  const bool p256 = type == KeyType::EcP256;
  Bytes point = unwrapPoint(ecPoint, p256 ? 65 : 97);
  std::string group = p256 ? "prime256v1" : "secp384r1";
  const std::array params{
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  ossl::EvpPkeyCtxPtr ctx(
      ossl::check(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), "EVP_PKEY_CTX_new"));
  ossl::check(EVP_PKEY_fromdata_init(ctx.get()), "EVP_PKEY_fromdata_init");
  EVP_PKEY* raw = nullptr;
  ossl::check(EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY,
                                const_cast<OSSL_PARAM*>(params.data())),
              "EVP_PKEY_fromdata");
  const ossl::EvpPkeyPtr key(raw);
  return ossl::subjectPublicKeyInfo(key.get());
}

Bytes ecdsaRawToDer(ByteView raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    throw LayerError(LayerError::Kind::BadInput, "ECDSA signature of odd length");
  }
  const std::size_t half = raw.size() / 2;
  std::unique_ptr<ECDSA_SIG, ossl::Free<&ECDSA_SIG_free>> sig(
      ossl::check(ECDSA_SIG_new(), "ECDSA_SIG_new"));
  BIGNUM* r = ossl::check(BN_bin2bn(raw.data(), static_cast<int>(half), nullptr), "BN_bin2bn");
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  if (s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ossl::fail("ECDSA_SIG_set0");
  }
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) {
    ossl::fail("i2d_ECDSA_SIG");
  }
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

}  // namespace p2pcp::pkcs11
