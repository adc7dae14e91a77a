// SPDX-License-Identifier: Apache-2.0
#pragma once
// unique_ptr aliases for the OpenSSL objects the project uses, and one place
// that turns the OpenSSL error queue into an exception.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp::ossl {

template <auto F>
struct Free {
  void operator()(auto* p) const noexcept { F(p); }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, Free<&EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<&EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<&EVP_MD_CTX_free>>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Free<&EVP_CIPHER_CTX_free>>;
using EvpKdfPtr = std::unique_ptr<EVP_KDF, Free<&EVP_KDF_free>>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, Free<&EVP_KDF_CTX_free>>;
using EvpMacPtr = std::unique_ptr<EVP_MAC, Free<&EVP_MAC_free>>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Free<&EVP_MAC_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Free<&BN_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Free<&BN_CTX_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, Free<&EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Free<&EC_POINT_free>>;
using BioPtr = std::unique_ptr<BIO, Free<&BIO_free_all>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Free<&OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Free<&OSSL_PARAM_free>>;
using X509Ptr = std::unique_ptr<X509, Free<&X509_free>>;

// Raised when an OpenSSL call fails; carries the first queued error string.
class OpenSslError : public std::runtime_error {
 public:
  explicit OpenSslError(const std::string& what);
};

// Throws OpenSslError naming `call` and the queued OpenSSL error, and clears the queue.
[[noreturn]] void fail(const char* call);

// The DER SubjectPublicKeyInfo of a key's public half.
Bytes subjectPublicKeyInfo(EVP_PKEY* key);

// Returns p, or throws OpenSslError naming `call` when p is null.
template <typename T>
T* check(T* p, const char* call) {
  if (p == nullptr) {
    fail(call);
  }
  return p;
}

// Throws OpenSslError naming `call` unless rc is 1 (OpenSSL's success value).
inline void check(int rc, const char* call) {
  if (rc != 1) {
    fail(call);
  }
}

}  // namespace p2pcp::ossl
