// SPDX-License-Identifier: Apache-2.0
// The PKCS#11 layer on a real SoftHSM2 token. Every signature, shared secret
// and decryption is checked with OpenSSL against the public key the layer
// reported, never with the layer's own code.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "p2pcp/common/ossl.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/inventory.hpp"
#include "p2pcp/pkcs11/module.hpp"
#include "softhsm_token.hpp"

namespace p2pcp::pkcs11 {
namespace {

using testing::SoftHsmToken;

ossl::EvpPkeyPtr parseSpki(const Bytes& spki) {
  const unsigned char* p = spki.data();
  return ossl::EvpPkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
}

bool verify(const Bytes& spki, SignAlgorithm algorithm, ByteView message, const Bytes& signature) {
  const auto key = parseSpki(spki);
  const ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = algorithm == SignAlgorithm::Ed25519       ? nullptr
                     : algorithm == SignAlgorithm::EcdsaSha384 ? EVP_sha384()
                                                               : EVP_sha256();
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.get()) != 1) {
    return false;
  }
  if (algorithm == SignAlgorithm::RsaPssSha256) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
  }
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

class Pkcs11OnSoftHsm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = SoftHsmToken::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    token_ = std::make_unique<SoftHsmToken>();
    module_ = Module::loadPath(testing::kSoftHsmModule);
    inventory_ = std::make_unique<Inventory>(std::vector{module_});
    inventory_->refresh();
  }
  std::shared_ptr<Token> token() { return inventory_->findToken("pkcs11:token=p2pcp-test"); }
  std::shared_ptr<Token> loggedIn() {
    auto t = token();
    t->login(SecureString(token_->pin()));
    return t;
  }

  std::unique_ptr<SoftHsmToken> token_;
  std::shared_ptr<Module> module_;
  std::unique_ptr<Inventory> inventory_;
};

TEST_F(Pkcs11OnSoftHsm, ModuleByPathAndThroughTheP11KitRegistry) {
  EXPECT_FALSE(module_->slots(true).empty());
  EXPECT_FALSE(module_->libraryDescription().empty());
  // p11-kit registers SoftHSM2 on Debian; with SOFTHSM2_CONF set it sees our token.
  bool found = false;
  for (const auto& module : Module::loadRegistered()) {
    Inventory registered({module});
    registered.refresh();
    for (const auto& t : registered.tokens()) {
      found = found || t->describe().label == "p2pcp-test";
    }
  }
  EXPECT_TRUE(found) << "the registered softhsm2 module shows the test token";
  EXPECT_THROW(Module::loadPath("/nonexistent/module.so"), LayerError);
}

TEST_F(Pkcs11OnSoftHsm, DescribesTheTokenAndItsPinState) {
  const auto description = token()->describe();
  EXPECT_EQ(description.label, "p2pcp-test");
  EXPECT_TRUE(description.loginRequired);
  EXPECT_FALSE(description.protectedAuthenticationPath);
  EXPECT_EQ(description.pinState, PinState::Ok);
  EXPECT_EQ(description.uri.rfind("pkcs11:", 0), 0U);
  EXPECT_NE(description.uri.find("token=p2pcp-test"), std::string::npos);
}

TEST_F(Pkcs11OnSoftHsm, WrongPinIsATypedErrorAndIsNotRetried) {
  auto t = token();
  try {
    t->login(SecureString("0000-wrong"));
    FAIL() << "a wrong PIN logged in";
  } catch (const Pkcs11Error& e) {
    EXPECT_EQ(e.rv(), CKR_PIN_INCORRECT);
    EXPECT_EQ(ckrName(e.rv()), "CKR_PIN_INCORRECT");
    EXPECT_EQ(e.function(), "C_Login");
    EXPECT_STREQ(e.code().category().name(), "pkcs11");
    EXPECT_EQ(e.code().message(), "CKR_PIN_INCORRECT");
  }
  EXPECT_FALSE(t->loggedIn());
  // SoftHSM2 counts failures and reports them through CKF_USER_PIN_COUNT_LOW.
  EXPECT_EQ(t->describe().pinState, PinState::CountLow);
  t->login(SecureString(token_->pin()));
  EXPECT_TRUE(t->loggedIn());
  t->logout();
  EXPECT_FALSE(t->loggedIn());
  EXPECT_EQ(ckrName(0x80000123UL), "CKR_0x80000123");
}

TEST_F(Pkcs11OnSoftHsm, GeneratedKeysAreSensitiveAndNeverExtractable) {
  auto t = loggedIn();
  for (const auto type : {KeyType::Rsa, KeyType::EcP256, KeyType::EcP384, KeyType::Ed25519}) {
    const auto key = t->generateKeyPair(type, "gen-" + std::string(keyTypeName(type)));
    EXPECT_EQ(key.type, type);
    EXPECT_TRUE(key.sensitive);
    EXPECT_FALSE(key.extractable);
    EXPECT_TRUE(key.canSign);
    const auto pkey = parseSpki(key.spki);
    ASSERT_TRUE(pkey) << "the SPKI parses with OpenSSL";
    // Read the attributes straight from the token, not from our description.
    Session session(module_, t->slot(), false);
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    std::array query{CK_ATTRIBUTE{CKA_CLASS, &cls, sizeof cls},
                     CK_ATTRIBUTE{CKA_ID, const_cast<std::uint8_t*>(key.id.data()), key.id.size()}};
    const auto handles = session.findObjects(query);
    ASSERT_EQ(handles.size(), 1U);
    EXPECT_EQ(session.boolAttribute(handles[0], CKA_SENSITIVE), true);
    EXPECT_EQ(session.boolAttribute(handles[0], CKA_EXTRACTABLE), false);
    EXPECT_EQ(session.boolAttribute(handles[0], CKA_TOKEN), true);
    EXPECT_FALSE(session.attribute(handles[0], CKA_VALUE).has_value())
        << "no private value can be read";
  }
  // Listing still works with an Ed25519 key on the token (libp11 0.4.12 fails here).
  EXPECT_EQ(t->keys().size(), 4U);
}

TEST_F(Pkcs11OnSoftHsm, EverySignatureVerifiesWithOpenSsl) {
  auto t = loggedIn();
  const std::string text = "a message to sign, hashed by the layer where the token cannot";
  const ByteView message = asBytes(text);
  const auto rsa = t->generateKeyPair(KeyType::Rsa, "rsa");
  const auto p256 = t->generateKeyPair(KeyType::EcP256, "p256");
  const auto p384 = t->generateKeyPair(KeyType::EcP384, "p384");
  const auto ed = t->generateKeyPair(KeyType::Ed25519, "ed");
  const std::vector<std::pair<const KeyDescription*, SignAlgorithm>> cases{
      {&rsa, SignAlgorithm::RsaPkcs1Sha256}, {&rsa, SignAlgorithm::RsaPssSha256},
      {&p256, SignAlgorithm::EcdsaSha256},   {&p384, SignAlgorithm::EcdsaSha384},
      {&p384, SignAlgorithm::EcdsaSha256},   {&ed, SignAlgorithm::Ed25519}};
  for (const auto& [key, algorithm] : cases) {
    const Bytes signature = t->sign(*key, algorithm, message);
    EXPECT_TRUE(verify(key->spki, algorithm, message, signature)) << signAlgorithmName(algorithm);
    Bytes other(message.begin(), message.end());
    other.back() ^= 1U;
    EXPECT_FALSE(verify(key->spki, algorithm, other, signature)) << signAlgorithmName(algorithm);
  }
  // PKCS#1 v1.5 and Ed25519 are deterministic; the scheme's root relies on it.
  EXPECT_EQ(t->sign(rsa, SignAlgorithm::RsaPkcs1Sha256, message),
            t->sign(rsa, SignAlgorithm::RsaPkcs1Sha256, message));
  EXPECT_EQ(t->sign(ed, SignAlgorithm::Ed25519, message),
            t->sign(ed, SignAlgorithm::Ed25519, message));
  EXPECT_THROW((void)t->sign(ed, SignAlgorithm::EcdsaSha256, message), LayerError);
  EXPECT_THROW((void)t->sign(p256, SignAlgorithm::RsaPkcs1Sha256, message), LayerError);
}

TEST_F(Pkcs11OnSoftHsm, EcdhAgreesWithOpenSsl) {
  auto t = loggedIn();
  for (const auto& [type, curve] :
       {std::pair{KeyType::EcP256, "P-256"}, std::pair{KeyType::EcP384, "P-384"}}) {
    const auto key = t->generateKeyPair(type, std::string("ecdh-") + curve);
    const ossl::EvpPkeyPtr peer(EVP_EC_gen(curve));
    ASSERT_TRUE(peer);
    std::size_t length = 0;
    EVP_PKEY_get_octet_string_param(peer.get(), OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0, &length);
    Bytes point(length);
    EVP_PKEY_get_octet_string_param(peer.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(),
                                    &length);
    const SecureBytes fromToken = t->deriveEcdh(key, point);

    const auto tokenPublic = parseSpki(key.spki);
    const ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(peer.get(), nullptr));
    ASSERT_EQ(EVP_PKEY_derive_init(ctx.get()), 1);
    ASSERT_EQ(EVP_PKEY_derive_set_peer(ctx.get(), tokenPublic.get()), 1);
    std::size_t secretLength = 0;
    EVP_PKEY_derive(ctx.get(), nullptr, &secretLength);
    Bytes fromOpenSsl(secretLength);
    ASSERT_EQ(EVP_PKEY_derive(ctx.get(), fromOpenSsl.data(), &secretLength), 1);
    EXPECT_EQ(Bytes(fromToken.begin(), fromToken.end()), fromOpenSsl) << curve;
  }
}

Bytes oaepEncrypt(const Bytes& spki, const EVP_MD* md, const std::string& secret) {
  const auto pub = parseSpki(spki);
  const ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(pub.get(), nullptr));
  EVP_PKEY_encrypt_init(ctx.get());
  EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING);
  EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md);
  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md);
  std::size_t length = 0;
  EVP_PKEY_encrypt(ctx.get(), nullptr, &length, asBytes(secret).data(), secret.size());
  Bytes ciphertext(length);
  if (EVP_PKEY_encrypt(ctx.get(), ciphertext.data(), &length, asBytes(secret).data(),
                       secret.size()) != 1) {
    return {};
  }
  ciphertext.resize(length);
  return ciphertext;
}

TEST_F(Pkcs11OnSoftHsm, OaepDecryptsWhatOpenSslEncrypted) {
  auto t = loggedIn();
  const auto key = t->generateKeyPair(KeyType::Rsa, "oaep");
  const std::string secret = "a 32-byte content key, say......";
  const SecureBytes plaintext =
      t->decryptOaep(key, oaepEncrypt(key.spki, EVP_sha1(), secret), Token::OaepHash::Sha1);
  EXPECT_EQ(std::string(plaintext.begin(), plaintext.end()), secret);
  // SoftHSM2 2.6 implements OAEP with SHA-1 only; SHA-256 is refused with a typed error.
  try {
    const SecureBytes sha256 = t->decryptOaep(key, oaepEncrypt(key.spki, EVP_sha256(), secret));
    EXPECT_EQ(std::string(sha256.begin(), sha256.end()), secret)
        << "a module with SHA-256 OAEP decrypts it";
  } catch (const Pkcs11Error& e) {
    EXPECT_EQ(e.rv(), CKR_ARGUMENTS_BAD);
  }
}

TEST_F(Pkcs11OnSoftHsm, ImportedKeysSignLikeTheirSoftwareOriginals) {
  auto t = loggedIn();
  for (const char* name : {"rsa2048", "p256", "p384", "ed25519"}) {
    const std::string path = std::string(P2PCP_FIXTURES_DIR) + "/" + name + ".pem";
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "r"), &std::fclose);
    ASSERT_TRUE(file) << path;
    const ossl::EvpPkeyPtr software(PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(software);
    const Bytes id{static_cast<std::uint8_t>(name[0]), static_cast<std::uint8_t>(name[1])};
    const auto key = t->importKeyPair(software.get(), std::string("imported-") + name, id);
    unsigned char* der = nullptr;
    const int length = i2d_PUBKEY(software.get(), &der);
    EXPECT_EQ(key.spki, Bytes(der, der + length)) << name;
    OPENSSL_free(der);
    EXPECT_FALSE(key.extractable);
    const SignAlgorithm algorithm = key.type == KeyType::Rsa       ? SignAlgorithm::RsaPkcs1Sha256
                                    : key.type == KeyType::Ed25519 ? SignAlgorithm::Ed25519
                                                                   : SignAlgorithm::EcdsaSha256;
    const ByteView message = asBytes("imported");
    EXPECT_TRUE(verify(key.spki, algorithm, message, t->sign(key, algorithm, message))) << name;
  }
}

TEST_F(Pkcs11OnSoftHsm, KeysAreFoundByUri) {
  auto t = loggedIn();
  const auto a = t->generateKeyPair(KeyType::EcP256, "alpha");
  (void)t->generateKeyPair(KeyType::Ed25519, "beta");
  EXPECT_EQ(inventory_->findKey(a.uri).second.id, a.id);
  EXPECT_EQ(inventory_->findKey("pkcs11:object=alpha").second.id, a.id);
  EXPECT_EQ(inventory_->findKey("pkcs11:token=p2pcp-test;object=beta;type=private").second.type,
            KeyType::Ed25519);
  const auto kind = [&](const std::string& uri) {
    try {
      (void)inventory_->findKey(uri);
      return std::string("found");
    } catch (const LayerError& e) {
      return std::string(e.kind() == LayerError::Kind::NoSuchKey      ? "none"
                         : e.kind() == LayerError::Kind::AmbiguousKey ? "ambiguous"
                         : e.kind() == LayerError::Kind::BadUri       ? "bad uri"
                                                                      : "other");
    }
  };
  EXPECT_EQ(kind("pkcs11:"), "ambiguous");
  EXPECT_EQ(kind("pkcs11:object=gamma"), "none");
  EXPECT_EQ(kind("pkcs11:token=another;object=alpha"), "none");
  EXPECT_EQ(kind("https://example.com"), "bad uri");
  EXPECT_EQ(kind("pkcs11:id=%zz"), "bad uri");
}

TEST_F(Pkcs11OnSoftHsm, PublicHalvesAreListedBeforeLogin) {
  {
    auto t = loggedIn();
    (void)t->generateKeyPair(KeyType::EcP256, "listed");
    t->logout();
  }
  inventory_->refresh();
  auto t = token();
  t->invalidateKeys();
  ASSERT_FALSE(t->loggedIn());
  const auto keys = t->keys();
  ASSERT_EQ(keys.size(), 1U) << "the private key is CKA_PRIVATE, its public key names it";
  EXPECT_EQ(keys[0].label, "listed");
  EXPECT_NE(keys[0].uri.find("type=private"), std::string::npos);
}

}  // namespace
}  // namespace p2pcp::pkcs11
