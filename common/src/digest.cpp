// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/common/digest.hpp"

#include "p2pcp/common/ossl.hpp"

namespace p2pcp {

Sha256 sha256(ByteView data) {
  return Sha256Builder{}.add(data).finish();
}

Sha256Builder::Sha256Builder()
    : ctx_(ossl::check(EVP_MD_CTX_new(), "EVP_MD_CTX_new"), EVP_MD_CTX_free) {
  ossl::check(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

Sha256Builder& Sha256Builder::add(ByteView data) {
  ossl::check(EVP_DigestUpdate(ctx_.get(), data.data(), data.size()), "EVP_DigestUpdate");
  return *this;
}

Sha256 Sha256Builder::finish() {
  Sha256 out{};
  unsigned int len = 0;
  ossl::check(EVP_DigestFinal_ex(ctx_.get(), out.data(), &len), "EVP_DigestFinal_ex");
  return out;
}

}  // namespace p2pcp
