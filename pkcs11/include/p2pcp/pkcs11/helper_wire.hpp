// SPDX-License-Identifier: Apache-2.0
#pragma once
// What crosses the socket between the agent and a PKCS#11 helper process
// (pkcs11/helper/): token and key descriptions, token identities, and errors,
// as JSON. The helper runs one vendor module, so the agent never maps vendor
// code; the wire carries descriptions and results, never a handle the agent
// could misuse, and errors come back as the same typed exceptions
// (Pkcs11Error, LayerError) the in-process layer throws.

#include <p11-kit/pkcs11.h>

#include <exception>
#include <nlohmann/json.hpp>

#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::pkcs11::wire {

nlohmann::json encode(const TokenDescription& token);
TokenDescription decodeTokenDescription(const nlohmann::json& in);

// Without the certificate when `withCertificate` is false (operations need only
// the key's identity; the listing needs all of it).
nlohmann::json encode(const KeyDescription& key, bool withCertificate = true);
KeyDescription decodeKey(const nlohmann::json& in);

// The identity fields of CK_TOKEN_INFO that URIs match (label, manufacturer,
// model, serial) and the flags.
nlohmann::json encodeTokenInfo(const CK_TOKEN_INFO& info);
CK_TOKEN_INFO decodeTokenInfo(const nlohmann::json& in);

// The exception in flight as a wire error object.
nlohmann::json encodeError(const std::exception_ptr& error);
// Throws the exception a wire error object describes.
[[noreturn]] void rethrow(const nlohmann::json& error);

}  // namespace p2pcp::pkcs11::wire
