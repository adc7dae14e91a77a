// SPDX-License-Identifier: Apache-2.0
#pragma once
// PKCS#11 pads its fixed-size text fields with spaces and does not terminate them.

#include <p11-kit/pkcs11.h>

#include <cstddef>
#include <string>

namespace p2pcp::pkcs11 {

template <std::size_t N>
std::string paddedText(const unsigned char (&field)[N]) {
  std::string text(reinterpret_cast<const char*>(field), N);
  const auto end = text.find_last_not_of(' ');
  text.erase(end == std::string::npos ? 0 : end + 1);
  // Some modules NUL-terminate instead of padding.
  if (const auto nul = text.find('\0'); nul != std::string::npos) {
    text.erase(nul);
  }
  return text;
}

}  // namespace p2pcp::pkcs11
