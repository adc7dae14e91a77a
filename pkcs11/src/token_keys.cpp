// SPDX-License-Identifier: Apache-2.0
// Making keys on the token: generation, and import of fixed test keys.
// Private keys are always CKA_SENSITIVE and never CKA_EXTRACTABLE.
#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <algorithm>

#include "p2pcp/common/ossl.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/token.hpp"

namespace p2pcp::pkcs11 {

namespace {

CK_BBOOL kTrue = CK_TRUE;
CK_BBOOL kFalse = CK_FALSE;

// The attributes every private key we create carries.
struct PrivateKeyTemplate {
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_KEY_TYPE type;
  std::vector<CK_ATTRIBUTE> attributes;

  PrivateKeyTemplate(CK_KEY_TYPE keyType, ByteView id, const std::string& label) : type(keyType) {
    attributes = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &kTrue, sizeof kTrue},
        {CKA_PRIVATE, &kTrue, sizeof kTrue},
        {CKA_SENSITIVE, &kTrue, sizeof kTrue},
        {CKA_EXTRACTABLE, &kFalse, sizeof kFalse},
        {CKA_SIGN, &kTrue, sizeof kTrue},
        {CKA_ID, const_cast<std::uint8_t*>(id.data()), static_cast<CK_ULONG>(id.size())},
        {CKA_LABEL, const_cast<char*>(label.data()), static_cast<CK_ULONG>(label.size())},
    };
    if (keyType == CKK_RSA) {
      attributes.push_back({CKA_DECRYPT, &kTrue, sizeof kTrue});
    } else if (keyType == CKK_EC) {
      attributes.push_back({CKA_DERIVE, &kTrue, sizeof kTrue});
    }
  }
};

struct PublicKeyTemplate {
  CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
  CK_KEY_TYPE type;
  std::vector<CK_ATTRIBUTE> attributes;

  PublicKeyTemplate(CK_KEY_TYPE keyType, ByteView id, const std::string& label) : type(keyType) {
    attributes = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &kTrue, sizeof kTrue},
        {CKA_PRIVATE, &kFalse, sizeof kFalse},
        {CKA_VERIFY, &kTrue, sizeof kTrue},
        {CKA_ID, const_cast<std::uint8_t*>(id.data()), static_cast<CK_ULONG>(id.size())},
        {CKA_LABEL, const_cast<char*>(label.data()), static_cast<CK_ULONG>(label.size())},
    };
    if (keyType == CKK_RSA) {
      attributes.push_back({CKA_ENCRYPT, &kTrue, sizeof kTrue});
    }
  }
};

CK_KEY_TYPE pkcs11KeyType(KeyType type) {
  return type == KeyType::Rsa ? CKK_RSA : type == KeyType::Ed25519 ? CKK_EC_EDWARDS : CKK_EC;
}

// SoftHSM2 2.6 names Ed25519 by this PrintableString; the standard uses the OID.
// Sized once and filled in place: growing a two-byte vector here made GCC 12 at -O3
// report a false -Warray-bounds inside std::vector's reallocation path.
const Bytes kEd25519Printable = [] {
  constexpr std::string_view kName = "edwards25519";
  Bytes out(2 + kName.size());
  out[0] = 0x13;  // PrintableString
  out[1] = static_cast<std::uint8_t>(kName.size());
  std::ranges::copy(asBytes(kName), out.begin() + 2);
  return out;
}();

bool curveRefused(CK_RV rv) {
  return rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT ||
         rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_CURVE_NOT_SUPPORTED;
}

SecureBytes bnParam(EVP_PKEY* key, const char* name, std::size_t padTo = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    ossl::fail("EVP_PKEY_get_bn_param");
  }
  std::unique_ptr<BIGNUM, ossl::Free<&BN_clear_free>> bn(raw);
  const auto size = padTo != 0 ? padTo : static_cast<std::size_t>(BN_num_bytes(bn.get()));
  SecureBytes out(size);
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(size)) < 0) {
    ossl::fail("BN_bn2binpad");
  }
  return out;
}

Bytes wrapOctetString(ByteView point) {
  Bytes out{0x04};
  if (point.size() > 127) {
    out.push_back(0x81);
  }
  out.push_back(static_cast<std::uint8_t>(point.size()));
  append(out, point);
  return out;
}

}  // namespace

KeyDescription Token::findGenerated(ByteView id) {
  invalidateKeys();
  for (auto& key : keys()) {
    if (std::equal(key.id.begin(), key.id.end(), id.begin(), id.end())) {
      return key;
    }
  }
  throw LayerError(LayerError::Kind::NoSuchKey, "the new key is not on the token");
}

KeyDescription Token::generateKeyPair(KeyType type, const std::string& label, std::size_t rsaBits) {
  return guarded([&] {
    (void)session();  // the persistent session keeps the login while this one writes
    Session s(module_, slot_, true);
    Bytes id(16);
    try {
      id = s.generateRandom(id.size());
    } catch (const Pkcs11Error&) {
      ossl::check(RAND_bytes(id.data(), static_cast<int>(id.size())), "RAND_bytes");
    }
    const CK_KEY_TYPE keyType = pkcs11KeyType(type);
    PublicKeyTemplate pub(keyType, id, label);
    PrivateKeyTemplate priv(keyType, id, label);
    CK_ULONG bits = rsaBits;
    std::array<std::uint8_t, 3> exponent{0x01, 0x00, 0x01};
    Bytes params;
    CK_MECHANISM mechanism{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    if (type == KeyType::Rsa) {
      pub.attributes.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
      pub.attributes.push_back({CKA_PUBLIC_EXPONENT, exponent.data(), exponent.size()});
    } else {
      const ByteView oid = ecParamsOf(type);
      params.assign(oid.begin(), oid.end());
      pub.attributes.push_back(
          {CKA_EC_PARAMS, params.data(), static_cast<CK_ULONG>(params.size())});
      mechanism.mechanism =
          type == KeyType::Ed25519 ? CKM_EC_EDWARDS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN;
    }
    try {
      (void)s.generateKeyPair(mechanism, pub.attributes, priv.attributes);
    } catch (const Pkcs11Error& e) {
      if (type != KeyType::Ed25519 || !curveRefused(e.rv())) {
        throw;
      }
      params = kEd25519Printable;
      pub.attributes.back().pValue = params.data();
      pub.attributes.back().ulValueLen = static_cast<CK_ULONG>(params.size());
      (void)s.generateKeyPair(mechanism, pub.attributes, priv.attributes);
    }
    return findGenerated(id);
  });
}

KeyDescription Token::importKeyPair(EVP_PKEY* key, const std::string& label, ByteView id) {
  return guarded([&] {
    (void)session();
    Session s(module_, slot_, true);
    const int baseId = EVP_PKEY_get_base_id(key);
    if (baseId == EVP_PKEY_RSA) {
      PublicKeyTemplate pub(CKK_RSA, id, label);
      PrivateKeyTemplate priv(CKK_RSA, id, label);
      const SecureBytes n = bnParam(key, OSSL_PKEY_PARAM_RSA_N);
      const SecureBytes e = bnParam(key, OSSL_PKEY_PARAM_RSA_E);
      const SecureBytes d = bnParam(key, OSSL_PKEY_PARAM_RSA_D);
      const SecureBytes p = bnParam(key, OSSL_PKEY_PARAM_RSA_FACTOR1);
      const SecureBytes q = bnParam(key, OSSL_PKEY_PARAM_RSA_FACTOR2);
      const SecureBytes dp = bnParam(key, OSSL_PKEY_PARAM_RSA_EXPONENT1);
      const SecureBytes dq = bnParam(key, OSSL_PKEY_PARAM_RSA_EXPONENT2);
      const SecureBytes qi = bnParam(key, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
      const auto attr = [](CK_ATTRIBUTE_TYPE t, const SecureBytes& v) {
        return CK_ATTRIBUTE{t, const_cast<std::uint8_t*>(v.data()),
                            static_cast<CK_ULONG>(v.size())};
      };
      pub.attributes.push_back(attr(CKA_MODULUS, n));
      pub.attributes.push_back(attr(CKA_PUBLIC_EXPONENT, e));
      for (const auto& a :
           {attr(CKA_MODULUS, n), attr(CKA_PUBLIC_EXPONENT, e), attr(CKA_PRIVATE_EXPONENT, d),
            attr(CKA_PRIME_1, p), attr(CKA_PRIME_2, q), attr(CKA_EXPONENT_1, dp),
            attr(CKA_EXPONENT_2, dq), attr(CKA_COEFFICIENT, qi)}) {
        priv.attributes.push_back(a);
      }
      (void)s.createObject(priv.attributes);
      (void)s.createObject(pub.attributes);
      return findGenerated(id);
    }
    const bool edwards = baseId == EVP_PKEY_ED25519;
    if (!edwards && baseId != EVP_PKEY_EC) {
      throw LayerError(LayerError::Kind::Unsupported,
                       "only RSA, EC P-256/P-384 and Ed25519 keys can be imported");
    }
    KeyType type = KeyType::Ed25519;
    SecureBytes secret;
    Bytes point;
    if (edwards) {
      secret.resize(32);
      std::size_t length = secret.size();
      ossl::check(EVP_PKEY_get_raw_private_key(key, secret.data(), &length),
                  "EVP_PKEY_get_raw_private_key");
      point.resize(32);
      length = point.size();
      ossl::check(EVP_PKEY_get_raw_public_key(key, point.data(), &length),
                  "EVP_PKEY_get_raw_public_key");
    } else {
      std::array<char, 64> group{};
      ossl::check(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                                 group.size(), nullptr),
                  "EVP_PKEY_get_utf8_string_param");
      const std::string_view name(group.data());
      if (name == "prime256v1") {
        type = KeyType::EcP256;
      } else if (name == "secp384r1") {
        type = KeyType::EcP384;
      } else {
        throw LayerError(LayerError::Kind::Unsupported, "unsupported curve " + std::string(name));
      }
      secret = bnParam(key, OSSL_PKEY_PARAM_PRIV_KEY, type == KeyType::EcP256 ? 32 : 48);
      std::size_t length = 0;
      ossl::check(
          EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0, &length),
          "EVP_PKEY_get_octet_string_param");
      point.resize(length);
      ossl::check(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                                  point.size(), &length),
                  "EVP_PKEY_get_octet_string_param");
    }
    const ByteView oid = ecParamsOf(type);
    Bytes params(oid.begin(), oid.end());
    const Bytes wrappedPoint = wrapOctetString(point);
    const auto create = [&] {
      PublicKeyTemplate pub(pkcs11KeyType(type), id, label);
      PrivateKeyTemplate priv(pkcs11KeyType(type), id, label);
      pub.attributes.push_back(
          {CKA_EC_PARAMS, params.data(), static_cast<CK_ULONG>(params.size())});
      pub.attributes.push_back({CKA_EC_POINT, const_cast<std::uint8_t*>(wrappedPoint.data()),
                                static_cast<CK_ULONG>(wrappedPoint.size())});
      priv.attributes.push_back(
          {CKA_EC_PARAMS, params.data(), static_cast<CK_ULONG>(params.size())});
      priv.attributes.push_back({CKA_VALUE, secret.data(), static_cast<CK_ULONG>(secret.size())});
      const CK_OBJECT_HANDLE created = s.createObject(priv.attributes);
      try {
        (void)s.createObject(pub.attributes);
      } catch (...) {
        (void)s.fn()->C_DestroyObject(s.handle(), created);
        throw;
      }
    };
    try {
      create();
    } catch (const Pkcs11Error& e) {
      if (!edwards || !curveRefused(e.rv())) {
        throw;
      }
      params = kEd25519Printable;
      create();
    }
    return findGenerated(id);
  });
}

}  // namespace p2pcp::pkcs11
