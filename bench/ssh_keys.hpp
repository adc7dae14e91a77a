// SPDX-License-Identifier: Apache-2.0
#pragma once
// OpenSSH's wire format for the two key types ssh-agent serves from PKCS#11
// (RSA and ECDSA P-256): the key blob of a public key, so the benchmark picks
// the very key it signs with on our agent, and a check of ssh-agent's
// signature, so it measures signatures that verify.

#include <filesystem>

#include "p2pcp/common/bytes.hpp"
#include "p2pcp/common/ossl.hpp"

namespace p2pcp::bench {

// The public key in a PEM file (SubjectPublicKeyInfo). Throws ossl::OpenSslError.
ossl::EvpPkeyPtr readPublicKeyPem(const std::filesystem::path& path);

// "ssh-rsa" (string e, n as mpints) or "ecdsa-sha2-nistp256" (curve name, point).
// Throws std::invalid_argument for any other key type.
Bytes sshPublicKeyBlob(EVP_PKEY* key);

// Whether `signatureBlob` from SSH2_AGENT_SIGN_RESPONSE ("rsa-sha2-256" or
// "ecdsa-sha2-nistp256") is a valid signature of `data` by `key`.
bool verifySshSignature(EVP_PKEY* key, ByteView signatureBlob, ByteView data);

}  // namespace p2pcp::bench
