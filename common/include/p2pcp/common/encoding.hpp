// SPDX-License-Identifier: Apache-2.0
#pragma once
// Hex and base64 (RFC 4648, with padding) over OpenSSL's codecs.

#include <optional>
#include <string>
#include <string_view>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp {

std::string toHex(ByteView bytes);
// Accepts upper or lower case; nullopt on odd length or a non-hex digit.
std::optional<Bytes> fromHex(std::string_view hex);

std::string toBase64(ByteView bytes);
// Strict: standard alphabet, padding required, no whitespace. nullopt otherwise.
std::optional<Bytes> fromBase64(std::string_view text);

// Big-endian encoding of an unsigned 64-bit integer (block sequence numbers, timestamps).
void appendU64BigEndian(Bytes& out, std::uint64_t value);

}  // namespace p2pcp
