// SPDX-License-Identifier: Apache-2.0
#include "signature_format.hpp"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include <memory>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/common/ossl.hpp"

namespace p2pcp::agent {

using pkcs11::KeyType;

SignatureFormat signatureFormatParam(const Params& p) {
  const auto name = p.optionalString("signatureFormat", 16);
  if (!name || *name == "p1363") {
    return SignatureFormat::P1363;
  }
  if (*name == "der") {
    return SignatureFormat::Der;
  }
  badRequest(R"(parameter "signatureFormat" must be "p1363" or "der")");
}

Bytes ecdsaDerToP1363(ByteView der, std::size_t fieldBytes) {
  const unsigned char* at = der.data();
  const std::unique_ptr<ECDSA_SIG, ossl::Free<&ECDSA_SIG_free>> sig(
      d2i_ECDSA_SIG(nullptr, &at, static_cast<long>(der.size())));
  if (!sig || at != der.data() + der.size()) {
    throw AgentError(ErrorCode::Internal, "the token returned a malformed ECDSA signature");
  }
  Bytes out(2 * fieldBytes);
  const int width = static_cast<int>(fieldBytes);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), width) != width ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + fieldBytes, width) != width) {
    throw AgentError(ErrorCode::Internal, "the token's ECDSA signature does not fit its curve");
  }
  return out;
}

Bytes inSignatureFormat(Bytes tokenSignature, KeyType type, SignatureFormat format) {
  // The token layer returns DER for ECDSA (pkcs11::Token::sign); the curve of
  // the key, not the hash, fixes the width of r and s.
  if (format == SignatureFormat::Der) {
    return tokenSignature;
  }
  switch (type) {
    case KeyType::EcP256:
      return ecdsaDerToP1363(tokenSignature, 32);
    case KeyType::EcP384:
      return ecdsaDerToP1363(tokenSignature, 48);
    case KeyType::Rsa:
    case KeyType::Ed25519:
      break;
  }
  return tokenSignature;
}

}  // namespace p2pcp::agent
