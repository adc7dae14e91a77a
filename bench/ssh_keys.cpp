// SPDX-License-Identifier: Apache-2.0
#include "ssh_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ssh_agent_client.hpp"

namespace p2pcp::bench {

namespace {

using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, ossl::Free<&ECDSA_SIG_free>>;

// An SSH mpint: big-endian two's complement, a leading zero when the top bit is set.
void putMpint(Bytes& out, const BIGNUM* value) {
  Bytes magnitude(static_cast<std::size_t>(BN_num_bytes(value)));
  BN_bn2bin(value, magnitude.data());
  if (!magnitude.empty() && (magnitude[0] & 0x80U) != 0) {
    magnitude.insert(magnitude.begin(), 0);
  }
  putString(out, magnitude);
}

ossl::BignumPtr bignumParam(EVP_PKEY* key, const char* name) {
  BIGNUM* value = nullptr;
  ossl::check(EVP_PKEY_get_bn_param(key, name, &value), "EVP_PKEY_get_bn_param");
  return ossl::BignumPtr(value);
}

std::string groupName(EVP_PKEY* key) {
  std::array<char, 64> name{};
  std::size_t length = 0;
  ossl::check(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name.data(),
                                             name.size(), &length),
              "EVP_PKEY_get_utf8_string_param");
  return {name.data(), length};
}

bool verifyDigestSignature(EVP_PKEY* key, ByteView signature, ByteView data) {
  ossl::EvpMdCtxPtr ctx(ossl::check(EVP_MD_CTX_new(), "EVP_MD_CTX_new"));
  ossl::check(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key),
              "EVP_DigestVerifyInit");
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(),
                          data.size()) == 1;
}

// SSH's ECDSA signature (string mpint r, mpint s) as the DER that OpenSSL verifies.
Bytes ecdsaDer(ByteView sshSignature) {
  SshReader reader(sshSignature);
  const ByteView r = reader.string();
  const ByteView s = reader.string();
  ossl::BignumPtr rn(ossl::check(BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr), "BN"));
  ossl::BignumPtr sn(ossl::check(BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr), "BN"));
  EcdsaSigPtr sig(ossl::check(ECDSA_SIG_new(), "ECDSA_SIG_new"));
  ossl::check(ECDSA_SIG_set0(sig.get(), rn.get(), sn.get()), "ECDSA_SIG_set0");
  (void)rn.release();  // now owned by sig
  (void)sn.release();
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) {
    ossl::fail("i2d_ECDSA_SIG");
  }
  Bytes der(static_cast<std::size_t>(length));
  std::uint8_t* cursor = der.data();
  (void)i2d_ECDSA_SIG(sig.get(), &cursor);
  return der;
}

}  // namespace

ossl::EvpPkeyPtr readPublicKeyPem(const std::filesystem::path& path) {
  ossl::BioPtr bio(ossl::check(BIO_new_file(path.c_str(), "r"), "BIO_new_file"));
  return ossl::EvpPkeyPtr(ossl::check(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                      "PEM_read_bio_PUBKEY"));
}

Bytes sshPublicKeyBlob(EVP_PKEY* key) {
  Bytes blob;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    putString(blob, asBytes("ssh-rsa"));
    putMpint(blob, bignumParam(key, OSSL_PKEY_PARAM_RSA_E).get());
    putMpint(blob, bignumParam(key, OSSL_PKEY_PARAM_RSA_N).get());
    return blob;
  }
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && groupName(key) == "prime256v1") {
    std::array<std::uint8_t, 65> point{};  // uncompressed: 04 || X || Y
    std::size_t length = 0;
    ossl::check(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                point.data(), point.size(), &length),
                "EVP_PKEY_get_octet_string_param");
    if (length != point.size() || point[0] != 0x04) {
      throw std::invalid_argument("the P-256 public key is not an uncompressed point");
    }
    putString(blob, asBytes("ecdsa-sha2-nistp256"));
    putString(blob, asBytes("nistp256"));
    putString(blob, point);
    return blob;
  }
  throw std::invalid_argument("ssh-agent's PKCS#11 support covers only RSA and ECDSA P-256 here");
}

bool verifySshSignature(EVP_PKEY* key, ByteView signatureBlob, ByteView data) {
  SshReader reader(signatureBlob);
  const std::string_view algorithm = asChars(reader.string());
  const ByteView signature = reader.string();
  if (!reader.atEnd()) {
    return false;
  }
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    return algorithm == "rsa-sha2-256" && verifyDigestSignature(key, signature, data);
  }
  return algorithm == "ecdsa-sha2-nistp256" &&
         verifyDigestSignature(key, ecdsaDer(signature), data);
}

}  // namespace p2pcp::bench
