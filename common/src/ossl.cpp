// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/common/ossl.hpp"

#include <openssl/err.h>

#include <array>

namespace p2pcp::ossl {

OpenSslError::OpenSslError(const std::string& what) : std::runtime_error(what) {}

void fail(const char* call) {
  const unsigned long code = ERR_get_error();
  std::string message = std::string(call) + " failed";
  if (code != 0) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    message += ": ";
    message += buffer.data();
  }
  ERR_clear_error();
  throw OpenSslError(message);
}

Bytes subjectPublicKeyInfo(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  if (length <= 0) {
    fail("i2d_PUBKEY");
  }
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

}  // namespace p2pcp::ossl
