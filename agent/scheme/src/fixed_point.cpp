// SPDX-License-Identifier: Apache-2.0
// The fixed ECDH peer point Q of the scheme: a point nobody knows the discrete
// logarithm of, found by hashing ("nothing up my sleeve"). A point d·G with a
// published d would let anyone compute d·PublicKey, i.e. the root, without the token.
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <mutex>

#include "p2pcp/common/ossl.hpp"
#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::scheme {

namespace {

FixedPoint findPoint(int nid, std::string_view curveName, std::size_t fieldBytes) {
  const ossl::EcGroupPtr group(
      ossl::check(EC_GROUP_new_by_curve_name(nid), "EC_GROUP_new_by_curve_name"));
  const ossl::BnCtxPtr ctx(ossl::check(BN_CTX_new(), "BN_CTX_new"));
  const ossl::BignumPtr p(ossl::check(BN_new(), "BN_new"));
  ossl::check(EC_GROUP_get_curve(group.get(), p.get(), nullptr, nullptr, ctx.get()),
              "EC_GROUP_get_curve");
  for (unsigned counter = 0; counter <= 0xFF; ++counter) {
    const auto counterByte = static_cast<std::uint8_t>(counter);
    const Sha256 x =
        Sha256Builder{}.add(kEcdhPointLabel).add(curveName).add(ByteView(&counterByte, 1)).finish();
    const ossl::BignumPtr xBn(
        ossl::check(BN_bin2bn(x.data(), static_cast<int>(x.size()), nullptr), "BN_bin2bn"));
    if (BN_cmp(xBn.get(), p.get()) >= 0) {
      continue;  // not a field element
    }
    const ossl::EcPointPtr point(ossl::check(EC_POINT_new(group.get()), "EC_POINT_new"));
    // y_bit = 0 selects the even y. Fails when x^3 + ax + b is not a square.
    if (EC_POINT_set_compressed_coordinates(group.get(), point.get(), xBn.get(), 0, ctx.get()) !=
        1) {
      ERR_clear_error();
      continue;
    }
    FixedPoint out;
    out.counter = counterByte;
    out.uncompressed.resize(1 + 2 * fieldBytes);
    if (EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED,
                           out.uncompressed.data(), out.uncompressed.size(),
                           ctx.get()) != out.uncompressed.size()) {
      ossl::fail("EC_POINT_point2oct");
    }
    return out;
  }
  throw SchemeError(SchemeError::Kind::BadInput,
                    "no fixed point found");  // cannot happen for these curves
}

}  // namespace

const FixedPoint& ecdhFixedPoint(pkcs11::KeyType curve) {
  // Function-local statics: computed once, thread-safe by the language.
  switch (curve) {
    case pkcs11::KeyType::EcP256: {
      static const FixedPoint point = findPoint(NID_X9_62_prime256v1, "P-256", 32);
      return point;
    }
    case pkcs11::KeyType::EcP384: {
      static const FixedPoint point = findPoint(NID_secp384r1, "P-384", 48);
      return point;
    }
    default:
      throw SchemeError(SchemeError::Kind::BadInput, "the ECDH root needs a P-256 or P-384 key");
  }
}

}  // namespace p2pcp::scheme
