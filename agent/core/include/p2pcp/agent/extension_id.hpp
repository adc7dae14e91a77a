// SPDX-License-Identifier: Apache-2.0
#pragma once
// Browser extension ids, as the browsers themselves form them. Shared by the
// policy check (allowedExtensions) and the native host's caller check, so both
// accept exactly the same ids.

#include <string_view>

namespace p2pcp::agent {

// A Chromium-family extension id: exactly 32 letters a-p (the first 128 bits of
// SHA-256 of the extension's public key, one letter per hex digit).
bool isChromiumExtensionId(std::string_view id) noexcept;

// A Firefox add-on id, by Firefox's own rule: a {GUID} in 8-4-4-4-12 hex digits,
// or an email-like name@domain of letters, digits, '-', '.' and '_' (the name may
// be empty); at most 255 bytes.
bool isFirefoxAddOnId(std::string_view id) noexcept;

}  // namespace p2pcp::agent
