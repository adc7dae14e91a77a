// SPDX-License-Identifier: Apache-2.0
// The C++ scheme against the independent Node implementation
// (tests/independent/p2pcp-scheme.mjs), run live on the fixed test keys, plus
// the properties the scheme promises: deterministic roots, sealed boxes that
// do not open when anything changes, site spaces that share no private key,
// reserved prefixes.
#include "p2pcp/scheme/scheme.hpp"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "p2pcp/common/encoding.hpp"
#include "p2pcp/common/ossl.hpp"

namespace p2pcp::scheme {
namespace {

using nlohmann::json;

const std::string kFixtures = P2PCP_FIXTURES_DIR;

// Runs the Node implementation once per test binary.
const json& nodeVectors() {
  static const json vectors = [] {
    const std::string command =
        "node " + std::string(P2PCP_INDEPENDENT_SCHEME) + " vectors " + kFixtures + " 2>/dev/null";
    // A fixed command line from build-time paths; the shell does the redirection.
    // NOLINTNEXTLINE(cert-env33-c)
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), &pclose);
    std::string out;
    std::array<char, 4096> buffer{};
    while (pipe && std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) {
      out += buffer.data();
    }
    return json::parse(out, nullptr, false);
  }();
  return vectors;
}

ossl::EvpPkeyPtr loadKey(const std::string& name) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(
      std::fopen((kFixtures + "/" + name + ".pem").c_str(), "r"), &std::fclose);
  return ossl::EvpPkeyPtr(file ? PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr)
                               : nullptr);
}

Bytes spkiOf(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

Bytes softwareSign(EVP_PKEY* key, const EVP_MD* md, ByteView message) {
  const ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key);
  std::size_t length = 0;
  EVP_DigestSign(ctx.get(), nullptr, &length, message.data(), message.size());
  Bytes out(length);
  EVP_DigestSign(ctx.get(), out.data(), &length, message.data(), message.size());
  out.resize(length);
  return out;
}

// What the token does for the root, done here in software on the fixture key.
Bytes tokenResult(EVP_PKEY* key, pkcs11::KeyType type) {
  switch (type) {
    case pkcs11::KeyType::Rsa:
      return softwareSign(key, EVP_sha256(), rootMessage());
    case pkcs11::KeyType::Ed25519:
      return softwareSign(key, nullptr, rootMessage());
    default: {
      const FixedPoint& q = ecdhFixedPoint(type);
      std::string group = type == pkcs11::KeyType::EcP256 ? "prime256v1" : "secp384r1";
      Bytes point = q.uncompressed;
      std::array params{OSSL_PARAM_construct_utf8_string("group", group.data(), 0),
                        OSSL_PARAM_construct_octet_string("pub", point.data(), point.size()),
                        OSSL_PARAM_construct_end()};
      const ossl::EvpPkeyCtxPtr fromData(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
      EVP_PKEY_fromdata_init(fromData.get());
      EVP_PKEY* peerRaw = nullptr;
      EVP_PKEY_fromdata(fromData.get(), &peerRaw, EVP_PKEY_PUBLIC_KEY, params.data());
      const ossl::EvpPkeyPtr peer(peerRaw);
      const ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
      EVP_PKEY_derive_init(ctx.get());
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get());
      std::size_t length = 0;
      EVP_PKEY_derive(ctx.get(), nullptr, &length);
      Bytes out(length);
      EVP_PKEY_derive(ctx.get(), out.data(), &length);
      return out;
    }
  }
}

struct Fixture {
  const char* name;
  pkcs11::KeyType type;
};
constexpr std::array kFixtureKeys{
    Fixture{"rsa2048", pkcs11::KeyType::Rsa}, Fixture{"p256", pkcs11::KeyType::EcP256},
    Fixture{"p384", pkcs11::KeyType::EcP384}, Fixture{"ed25519", pkcs11::KeyType::Ed25519}};

std::string hex(const auto& bytes) {
  return toHex(ByteView(bytes.data(), bytes.size()));
}

TEST(SchemeAgainstNode, EveryDerivationMatchesTheIndependentImplementation) {
  const json& vectors = nodeVectors();
  if (vectors.is_discarded() || !vectors.contains("keys")) {
    GTEST_SKIP() << "node is not available to run the independent implementation";
  }
  ASSERT_EQ(vectors["keys"].size(), kFixtureKeys.size());
  for (std::size_t i = 0; i < kFixtureKeys.size(); ++i) {
    const auto& [name, type] = kFixtureKeys[i];
    const json& v = vectors["keys"][i];
    SCOPED_TRACE(name);
    const auto key = loadKey(name);
    ASSERT_TRUE(key);
    const Bytes spki = spkiOf(key.get());
    EXPECT_EQ(toBase64(spki), v["spki"]);
    EXPECT_EQ(hex(fingerprint(spki)), v["fingerprint"]);
    const Sha256 profile = publicStorageKey(spki, "/profile");
    EXPECT_EQ(hex(profile), v["publicStorageKey_profile"]);

    const SecureBytes root = rootFromTokenResult(tokenResult(key.get(), type));
    EXPECT_EQ(hex(root), v["root"]);
    const SecureBytes notes = privateStorageKey(root, "/notes");
    EXPECT_EQ(hex(notes), v["privateStorageKey_notes"]);
    EXPECT_EQ(hex(sealKey(root, "/notes")), v["sealKey_notes"]);
    const SecureBytes seed = writeKeySeed(root, "/notes");
    EXPECT_EQ(toBase64(writeKeySpki(seed)), v["writeKeySpki_notes"]);

    const Sha256 payloadHash = sha256(asBytes("hello p2pcp"));
    const Bytes block = blockMessage(profile, 1, payloadHash);
    EXPECT_EQ(toHex(block), v["publicBlockMessage"]);
    const Bytes privateBlock = blockMessage(notes, 1, payloadHash);
    EXPECT_EQ(toBase64(signWithWriteKey(seed, privateBlock)), v["privateBlockSignature"]);
    if (v.contains("publicBlockSignature")) {
      const EVP_MD* md = type == pkcs11::KeyType::Rsa ? EVP_sha256() : nullptr;
      EXPECT_EQ(toBase64(softwareSign(key.get(), md, block)), v["publicBlockSignature"]);
    }
    Bytes nonce(32);
    for (std::size_t b = 0; b < nonce.size(); ++b) {
      nonce[b] = static_cast<std::uint8_t>(b);
    }
    EXPECT_EQ(toHex(loginMessage("https://app.example", "wss://index.example/", nonce, 1767225600)),
              v["loginMessage"]);

    // The site space of https://app.example.
    const SecureBytes app = originRoot(root, "https://app.example");
    EXPECT_EQ(hex(app), v["originRoot_app"]);
    const SecureBytes appNotes = privateStorageKey(app, "/notes");
    EXPECT_EQ(hex(appNotes), v["privateStorageKey_app_notes"]);
    EXPECT_EQ(hex(sealKey(app, "/notes")), v["sealKey_app_notes"]);
    const SecureBytes appSeed = writeKeySeed(app, "/notes");
    EXPECT_EQ(toBase64(writeKeySpki(appSeed)), v["writeKeySpki_app_notes"]);
    EXPECT_EQ(hex(publicStorageKey(spki, "https://app.example/scores")),
              v["publicStorageKey_app_scores"]);
    EXPECT_EQ(toBase64(signWithWriteKey(appSeed, blockMessage(appNotes, 1, payloadHash))),
              v["privateBlockSignature_app_notes"]);
  }
}

TEST(SchemeAgainstNode, FixedPointsMatchAndAreOnTheCurveWithEvenY) {
  const json& vectors = nodeVectors();
  for (const auto& [type, name, nid] :
       {std::tuple{pkcs11::KeyType::EcP256, "P-256", NID_X9_62_prime256v1},
        std::tuple{pkcs11::KeyType::EcP384, "P-384", NID_secp384r1}}) {
    const FixedPoint& q = ecdhFixedPoint(type);
    if (vectors.contains("fixedPoints")) {
      EXPECT_EQ(toHex(q.uncompressed), vectors["fixedPoints"][name]["point"]) << name;
      EXPECT_EQ(q.counter, vectors["fixedPoints"][name]["counter"]) << name;
    }
    const ossl::EcGroupPtr group(EC_GROUP_new_by_curve_name(nid));
    const ossl::EcPointPtr point(EC_POINT_new(group.get()));
    ASSERT_EQ(EC_POINT_oct2point(group.get(), point.get(), q.uncompressed.data(),
                                 q.uncompressed.size(), nullptr),
              1);
    EXPECT_EQ(EC_POINT_is_on_curve(group.get(), point.get(), nullptr), 1);
    EXPECT_EQ(q.uncompressed.back() & 1U, 0U) << "even y";
    // x is the hash of the label, the curve name and the counter.
    const std::uint8_t counter = q.counter;
    const Sha256 x = Sha256Builder{}
                         .add(kEcdhPointLabel)
                         .add(std::string_view(name))
                         .add(ByteView(&counter, 1))
                         .finish();
    const std::size_t fieldBytes = (q.uncompressed.size() - 1) / 2;
    EXPECT_EQ(toHex(ByteView(q.uncompressed).subspan(1 + fieldBytes - 32, 32)), hex(x));
  }
  EXPECT_THROW((void)ecdhFixedPoint(pkcs11::KeyType::Rsa), SchemeError);
}

TEST(Scheme, LabelsEndWithAZeroByte) {
  for (const std::string_view label :
       {kPublicLabel, kRootLabel, kEcdhPointLabel, kBlockLabel, kLoginLabel, kOriginLabel,
        kStorageInfo, kSealInfo, kWriteInfo}) {
    ASSERT_FALSE(label.empty());
    EXPECT_EQ(label.back(), '\0') << label.data();
    EXPECT_EQ(label.find('\0'), label.size() - 1) << label.data();
  }
  EXPECT_EQ(kPublicLabel.size(), 16U);
  EXPECT_EQ(toHex(rootMessage()), "70327063702f76312f726f6f7400");
}

TEST(Scheme, SealedBoxesOpenOnlyUnchangedForTheirUri) {
  const SecureBytes root(32, 0x42);
  const ByteView plaintext = asBytes("private notes");
  const Bytes box = seal(root, "/notes", plaintext);
  ASSERT_EQ(box.size(), 1 + 12 + plaintext.size() + 16);
  EXPECT_EQ(box[0], kSealVersion);
  const SecureBytes opened = open(root, "/notes", box);
  EXPECT_EQ(std::string(opened.begin(), opened.end()), "private notes");
  EXPECT_NE(seal(root, "/notes", plaintext), box) << "a fresh nonce every time";

  EXPECT_THROW((void)open(root, "/other", box), SchemeError);
  EXPECT_THROW((void)open(SecureBytes(32, 0x43), "/notes", box), SchemeError);
  for (std::size_t i = 0; i < box.size(); ++i) {
    Bytes tampered = box;
    tampered[i] ^= 0x01;
    EXPECT_THROW((void)open(root, "/notes", tampered), SchemeError) << "byte " << i;
  }
  for (std::size_t length : {std::size_t{0}, std::size_t{1}, std::size_t{28}}) {
    EXPECT_THROW((void)open(root, "/notes", ByteView(box).first(length)), SchemeError) << length;
  }
  const Bytes empty = seal(root, "/e", {});
  EXPECT_TRUE(open(root, "/e", empty).empty());
  try {
    (void)open(root, "/other", box);
  } catch (const SchemeError& e) {
    EXPECT_EQ(e.kind(), SchemeError::Kind::OpenFailed);
  }
}

TEST(Scheme, DerivationsAreDomainSeparated) {
  const SecureBytes root(32, 7);
  EXPECT_NE(hex(privateStorageKey(root, "/notes")), hex(sealKey(root, "/notes")));
  EXPECT_NE(hex(sealKey(root, "/notes")), hex(writeKeySeed(root, "/notes")));
  EXPECT_NE(hex(privateStorageKey(root, "/a")), hex(privateStorageKey(root, "/b")));
  EXPECT_THROW((void)privateStorageKey(SecureBytes(31, 0), "/x"), SchemeError);
}

// The batch form (keyed once, HKDF expand from a precomputed PRK) gives exactly
// what the free functions give, for every root and uri, including an empty uri.
TEST(Scheme, RootDerivationsEqualTheFreeFunctions) {
  for (const std::uint8_t fill : {std::uint8_t{0}, std::uint8_t{7}, std::uint8_t{0xff}}) {
    const SecureBytes root(32, fill);
    const RootDerivations derivations(root);
    for (const std::string_view uri :
         {std::string_view(""), std::string_view("/notes"), std::string_view("/\xc3\xa9t\xc3\xa9"),
          std::string_view("https://app.example/scores")}) {
      EXPECT_EQ(hex(derivations.privateStorageKey(uri)), hex(privateStorageKey(root, uri)));
      EXPECT_EQ(hex(derivations.writeKeySeed(uri)), hex(writeKeySeed(root, uri)));
      EXPECT_EQ(hex(derivations.sealKey(uri)), hex(sealKey(root, uri)));
    }
    const SecureBytes seed = writeKeySeed(root, "/notes");
    const Bytes message(10, 1);
    const auto write = signWithWriteKeyAndSpki(seed, message);
    EXPECT_EQ(hex(write.spki), hex(writeKeySpki(seed)));
    // The SPKI built by hand equals OpenSSL's encoding of the same key.
    const ossl::EvpPkeyPtr key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
    ASSERT_TRUE(key);
    EXPECT_EQ(hex(write.spki), hex(ossl::subjectPublicKeyInfo(key.get())));
    EXPECT_EQ(hex(write.signature), hex(signWithWriteKey(seed, message)));
  }
  EXPECT_THROW(RootDerivations(SecureBytes(31, 0)), SchemeError);
}

// The hole this closes: a page allowed on one origin derived the same private keys as
// the person's app on another. Every private key now depends on the space.
constexpr std::array kSpaces{
    std::string_view("https://app.example"), std::string_view("https://game.example"),
    std::string_view("https://app.example:8443"), std::string_view("http://app.example")};

TEST(Spaces, OriginRootDiffersPerSpaceAndFromTheRoot) {
  const SecureBytes root(32, 9);
  std::set<std::string> seen{hex(root)};
  for (const std::string_view space : kSpaces) {
    const SecureBytes spaceRoot = originRoot(root, space);
    ASSERT_EQ(spaceRoot.size(), 32U);
    EXPECT_TRUE(seen.insert(hex(spaceRoot)).second) << space;
    EXPECT_EQ(hex(originRoot(root, space)), hex(spaceRoot)) << "deterministic";
    EXPECT_NE(hex(originRoot(SecureBytes(32, 10), space)), hex(spaceRoot)) << "depends on the root";
  }
  // No normalisation: the agent canonicalises the origin, the scheme takes it as it is.
  EXPECT_NE(hex(originRoot(root, "https://App.example")), hex(originRoot(root, kSpaces[0])));
  EXPECT_NE(hex(originRoot(root, "https://app.example/")), hex(originRoot(root, kSpaces[0])));
}

TEST(Spaces, TwoSpacesNeverShareAPrivateStorageSealOrWriteKey) {
  const SecureBytes root(32, 9);
  std::vector<SecureBytes> roots{root};  // the whole space, then each site space
  for (const std::string_view space : kSpaces) {
    roots.push_back(originRoot(root, space));
  }
  for (const std::string_view uri : {"/notes", "https://app.example/notes"}) {
    std::set<std::string> storage;
    std::set<std::string> seal;
    std::set<std::string> write;
    for (const SecureBytes& spaceRoot : roots) {
      EXPECT_TRUE(storage.insert(hex(privateStorageKey(spaceRoot, uri))).second) << uri;
      EXPECT_TRUE(seal.insert(hex(sealKey(spaceRoot, uri))).second) << uri;
      EXPECT_TRUE(write.insert(toBase64(writeKeySpki(writeKeySeed(spaceRoot, uri)))).second) << uri;
    }
  }
}

TEST(Spaces, ABoxSealedInOneSpaceOpensOnlyThere) {
  const SecureBytes root(32, 9);
  const SecureBytes app = originRoot(root, "https://app.example");
  const SecureBytes game = originRoot(root, "https://game.example");
  const Bytes box = seal(app, "/notes", asBytes("app notes"));
  const SecureBytes opened = open(app, "/notes", box);
  EXPECT_EQ(std::string(opened.begin(), opened.end()), "app notes");
  EXPECT_THROW((void)open(game, "/notes", box), SchemeError) << "another site";
  EXPECT_THROW((void)open(root, "/notes", box), SchemeError) << "the whole space";
  const Bytes full = seal(root, "/notes", asBytes("full"));
  EXPECT_THROW((void)open(app, "/notes", full), SchemeError)
      << "a site cannot open the whole space";
}

TEST(Spaces, OriginRootRefusesEmptySpacesZeroBytesAndShortRoots) {
  const SecureBytes root(32, 9);
  for (const std::string_view space :
       {std::string_view(), std::string_view("https://a\0b", 11), std::string_view("\0", 1)}) {
    try {
      (void)originRoot(root, space);
      ADD_FAILURE() << "accepted a space of " << space.size() << " bytes";
    } catch (const SchemeError& e) {
      EXPECT_EQ(e.kind(), SchemeError::Kind::BadInput);
    }
  }
  EXPECT_THROW((void)originRoot(SecureBytes(31, 9), "https://app.example"), SchemeError);
}

TEST(Spaces, APublicUriIsInASpaceOnlyUnderItsOriginAndASlash) {
  constexpr std::string_view app = "https://app.example";
  EXPECT_TRUE(isUriInSpace(app, "https://app.example/x"));
  EXPECT_TRUE(isUriInSpace(app, "https://app.example/scores"));
  EXPECT_TRUE(isUriInSpace(app, "https://app.example/"));
  EXPECT_FALSE(isUriInSpace(app, "https://app.example"));
  EXPECT_FALSE(isUriInSpace(app, "https://app.example.evil/x"));
  EXPECT_FALSE(isUriInSpace(app, "https://app.examplex/"));
  EXPECT_FALSE(isUriInSpace(app, "https://app.example:8443/x"));
  EXPECT_FALSE(isUriInSpace(app, "/notes"));
  EXPECT_FALSE(isUriInSpace(app, "https://APP.example/x")) << "no normalisation";
  EXPECT_FALSE(isUriInSpace(app, ""));
  EXPECT_FALSE(isUriInSpace("", "/notes")) << "an empty space holds nothing";
}

TEST(Scheme, RawSigningRefusesSchemeMessagesAndLoginsRefuseZeroBytes) {
  EXPECT_TRUE(isReservedMessage(asBytes("p2pcp/v1/root")));
  EXPECT_TRUE(isReservedMessage(asBytes("p2pcp/anything")));
  EXPECT_FALSE(isReservedMessage(asBytes("p2pcp")));
  EXPECT_FALSE(isReservedMessage(asBytes(" p2pcp/")));
  EXPECT_FALSE(isReservedMessage({}));
  EXPECT_THROW((void)loginMessage(std::string_view("https://a\0b", 11), "wss://i/", Bytes(16), 1),
               SchemeError);
  EXPECT_THROW((void)loginMessage("https://a", std::string_view("wss://i\0", 8), Bytes(16), 1),
               SchemeError);
}

}  // namespace
}  // namespace p2pcp::scheme
