// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <openssl/evp.h>

#include <array>
#include <memory>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(ByteView data);

// Incremental SHA-256 for data that arrives in pieces (concatenations in the scheme).
class Sha256Builder {
 public:
  Sha256Builder();
  Sha256Builder& add(ByteView data);
  Sha256Builder& add(std::string_view text) { return add(asBytes(text)); }
  Sha256 finish();

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

}  // namespace p2pcp
