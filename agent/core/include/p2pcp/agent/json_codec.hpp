// SPDX-License-Identifier: Apache-2.0
#pragma once
// How tokens and keys look on the wire.

#include <nlohmann/json.hpp>

#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::agent {

// {uri, label, manufacturer, model, serial, module, slot, loginRequired,
//  protectedAuthenticationPath, pinState}
nlohmann::json toJson(const pkcs11::TokenDescription& token);
// {uri, tokenUri, label, id (hex), type, bits, spki (base64 DER), fingerprint (hex SHA-256
//  of the SPKI), alwaysAuthenticate, canSign, canDerive, canDecrypt, hasCertificate}
nlohmann::json toJson(const pkcs11::KeyDescription& key);

}  // namespace p2pcp::agent
