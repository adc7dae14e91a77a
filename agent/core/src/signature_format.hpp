// SPDX-License-Identifier: Apache-2.0
#pragma once
// The form of the ECDSA signatures the agent returns (docs/protocol.md,
// "Signature forms"): IEEE P1363 (r || s, each the curve's field size) by
// default, which WebCrypto verifies directly; DER (ECDSA-Sig-Value) on request.
// RSA and Ed25519 signatures have one form only.

#include "p2pcp/agent/params.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::agent {

enum class SignatureFormat { P1363, Der };

// The optional param "signatureFormat": "p1363" (default) or "der".
SignatureFormat signatureFormatParam(const Params& p);

// A signature as the token layer returns it (ECDSA as DER) in `format`, for a key of `type`.
Bytes inSignatureFormat(Bytes tokenSignature, pkcs11::KeyType type, SignatureFormat format);

// DER ECDSA-Sig-Value -> r || s, each fieldBytes long. Throws AgentError(Internal) when the
// DER is malformed or a value does not fit.
Bytes ecdsaDerToP1363(ByteView der, std::size_t fieldBytes);

}  // namespace p2pcp::agent
