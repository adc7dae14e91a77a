// SPDX-License-Identifier: Apache-2.0
// Issue 10 on a real SoftHSM2 token: ECDSA signatures in P1363 form by default
// (DER on request), checked with OpenSSL against the returned SPKI; the bulk
// methods give item by item what the single methods give, keep per-item errors
// to their item, refuse too many items, stay under the browser's 1 MiB at
// their limits, and follow the caller table; the CLI's derive --stdin prints
// what separate derive calls print.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "agent_harness.hpp"
#include "p2pcp/common/digest.hpp"
#include "p2pcp/common/encoding.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;

const json kPageA = {{"origin", "https://a.example"}};
constexpr std::size_t kBrowserMessageLimit = 1048576;

json tryCall(client::AgentClient& agent, const std::string& method, const json& params,
             const json& meta = json::object()) {
  try {
    return {{"result", agent.call(method, params, meta)}};
  } catch (const client::AgentCallError& e) {
    return {{"error", e.error()}};
  }
}

std::string codeOf(const json& outcome) {
  if (outcome.contains("error")) {
    return outcome["error"]["data"]["error"].get<std::string>();
  }
  return outcome.contains("result") ? "OK" : "?";
}

Bytes bytes64(const json& text) {
  return fromBase64(text.get<std::string>()).value_or(Bytes{});
}

// The reply as the agent frames it: what has to fit the browser's limit.
std::size_t replySize(const json& outcome) {
  return json{{"jsonrpc", "2.0"}, {"id", 1}, {"result", outcome.at("result")}}.dump().size();
}

// r || s -> DER ECDSA-Sig-Value.
std::optional<Bytes> p1363ToDer(ByteView raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return std::nullopt;
  }
  const std::size_t half = raw.size() / 2;
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), &ECDSA_SIG_free);
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) {
    return std::nullopt;
  }
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

// OpenSSL's verdict on a DER ECDSA (or other) signature by the SPKI's key.
bool verifies(const Bytes& spki, const EVP_MD* md, ByteView message, ByteView signature) {
  const unsigned char* at = spki.data();
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      d2i_PUBKEY(nullptr, &at, static_cast<long>(spki.size())), &EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  return key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

Bytes blockMessage(const std::string& storageKeyHex, std::uint64_t seq,
                   const std::string& payload) {
  Bytes message;
  const std::string_view label("p2pcp/v1/block\0", 15);
  message.insert(message.end(), label.begin(), label.end());
  const Bytes storageKey = fromHex(storageKeyHex).value_or(Bytes{});
  message.insert(message.end(), storageKey.begin(), storageKey.end());
  for (int shift = 56; shift >= 0; shift -= 8) {
    message.push_back(static_cast<std::uint8_t>(seq >> shift));
  }
  const Sha256 hash = sha256(asBytes(payload));
  message.insert(message.end(), hash.begin(), hash.end());
  return message;
}

#define SKIP_WITHOUT_SOFTHSM()                              \
  if (auto missing = AgentHarness::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                               \
  }

class Bulk : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_SOFTHSM();
    harness_ = std::make_unique<AgentHarness>(setup());
  }
  virtual AgentSetup setup() {
    AgentSetup s;
    s.policy = json{{"rawSigning", true}};
    return s;
  }
  json call(const std::string& method, json params, const std::string& fixture,
            const json& meta = json::object()) {
    params["key"] = harness_->keyFingerprint(fixture);  // as pages name keys
    auto agent = harness_->connect();
    return tryCall(agent, method, params, meta);
  }
  std::unique_ptr<AgentHarness> harness_;
};

// --- signature forms -------------------------------------------------------

struct Curve {
  const char* fixture;
  std::size_t fieldBytes;
  const EVP_MD* (*md)();
};
const Curve kCurves[] = {{"p256", 32, &EVP_sha256}, {"p384", 48, &EVP_sha384}};

TEST_F(Bulk, EcdsaSignaturesAreP1363ByDefaultAndDerOnRequest) {
  const std::string payload = "a public block";
  for (const Curve& curve : kCurves) {
    SCOPED_TRACE(curve.fixture);
    const json block = {{"uri", "/profile"},
                        {"kind", "public"},
                        {"seq", 7},
                        {"payload", toBase64(asBytes(payload))}};
    const json p1363 = call("signBlock", block, curve.fixture);
    ASSERT_EQ(codeOf(p1363), "OK") << p1363.dump();
    const Bytes spki = bytes64(p1363["result"]["publicKey"]);
    const Bytes message = blockMessage(p1363["result"]["storageKey"], 7, payload);
    const Bytes raw = bytes64(p1363["result"]["signature"]);
    ASSERT_EQ(raw.size(), 2 * curve.fieldBytes) << "P1363 is r || s at the field size";
    const auto der = p1363ToDer(raw);
    ASSERT_TRUE(der);
    EXPECT_TRUE(verifies(spki, curve.md(), message, *der));

    json derBlock = block;
    derBlock["signatureFormat"] = "der";
    const json asDer = call("signBlock", derBlock, curve.fixture);
    ASSERT_EQ(codeOf(asDer), "OK") << asDer.dump();
    const Bytes derSignature = bytes64(asDer["result"]["signature"]);
    EXPECT_EQ(derSignature[0], 0x30) << "a DER SEQUENCE";
    EXPECT_TRUE(verifies(spki, curve.md(), message, derSignature));

    // Login signatures and raw signatures take the same form.
    const json login = {{"origin", "https://app.example"},
                        {"indexServer", "wss://index.example/"},
                        {"nonce", toBase64(Bytes(32, 7))},
                        {"timestamp", 1767225600}};
    for (const char* format : {"p1363", "der", ""}) {
      json params = login;
      if (*format != '\0') {
        params["signatureFormat"] = format;
      }
      const json r = call("signLogin", params, curve.fixture);
      ASSERT_EQ(codeOf(r), "OK") << r.dump();
      const Bytes signature = bytes64(r["result"]["signature"]);
      const bool isDer = std::string(format) == "der";
      EXPECT_EQ(signature.size() == 2 * curve.fieldBytes, !isDer) << format;
      EXPECT_TRUE(verifies(spki, curve.md(), bytes64(r["result"]["message"]),
                           isDer ? signature : p1363ToDer(signature).value_or(Bytes{})))
          << format;
    }
    const json raw2 = call("sign", {{"message", toBase64(asBytes("raw bytes"))}}, curve.fixture);
    ASSERT_EQ(codeOf(raw2), "OK") << raw2.dump();
    EXPECT_EQ(bytes64(raw2["result"]["signature"]).size(), 2 * curve.fieldBytes);
    json badFormat = block;
    badFormat["signatureFormat"] = "DER";
    EXPECT_EQ(codeOf(call("signBlock", badFormat, curve.fixture)), "BAD_REQUEST");
  }
  // RSA has one form: "der" leaves it as it is.
  const json rsa =
      call("sign", {{"message", toBase64(asBytes("m"))}, {"signatureFormat", "der"}}, "rsa2048");
  ASSERT_EQ(codeOf(rsa), "OK") << rsa.dump();
  EXPECT_EQ(bytes64(rsa["result"]["signature"]).size(), 256U);
}

// --- bulk methods ----------------------------------------------------------

TEST_F(Bulk, HelloGivesTheBatchLimits) {
  auto agent = harness_->connect();
  const json hello = agent.call("hello", json::object(), kPageA);
  EXPECT_EQ(hello.value("batchLimits", json()), (json{{"deriveStorageKeys", 2048},
                                                      {"signBlocks", 256},
                                                      {"sealMany", 256},
                                                      {"openMany", 256},
                                                      {"batchBytes", 524288}}));
}

TEST_F(Bulk, DeriveStorageKeysEqualsSingleCallsWithPerItemErrors) {
  const json uris = {"/notes", "/a/b", 42, "", "https://a.example/scores", std::string(4097, 'x'),
                     "/\u00e9"};
  for (const json& meta : {json::object(), kPageA}) {
    for (const std::string kind : {"public", "private"}) {
      SCOPED_TRACE(kind + " " + meta.dump());
      const json bulk = call("deriveStorageKeys", {{"kind", kind}, {"uris", uris}}, "p256", meta);
      ASSERT_EQ(codeOf(bulk), "OK") << bulk.dump();
      const json& results = bulk["result"]["results"];
      ASSERT_EQ(results.size(), uris.size());
      for (std::size_t i = 0; i < uris.size(); ++i) {
        const json single =
            call("deriveStorageKey", {{"kind", kind}, {"uri", uris[i]}}, "p256", meta);
        if (codeOf(single) == "OK") {
          EXPECT_EQ(results[i], (json{{"storageKey", single["result"]["storageKey"]}})) << i;
        } else {
          EXPECT_EQ(codeOf(single), "BAD_REQUEST") << i;
          EXPECT_EQ(results[i]["error"]["data"]["error"], "BAD_REQUEST") << i;
          EXPECT_EQ(results[i]["error"]["code"], -32600) << i;
        }
      }
      if (kind == "private") {
        EXPECT_EQ(bulk["result"]["space"], meta.empty() ? "full" : "https://a.example");
      }
    }
  }
  // A local program names a site space; it is the page's.
  const json inSpace =
      call("deriveStorageKeys",
           {{"kind", "private"}, {"uris", {"/notes"}}, {"space", "https://a.example"}}, "p256");
  const json asPage =
      call("deriveStorageKeys", {{"kind", "private"}, {"uris", {"/notes"}}}, "p256", kPageA);
  EXPECT_EQ(inSpace["result"]["results"], asPage["result"]["results"]);
}

TEST_F(Bulk, SignBlocksEqualsSingleCallsItemByItem) {
  // Ed25519 signatures are deterministic: a batch must give the single call's bytes.
  const std::string payload = toBase64(asBytes("block payload"));
  const json blocks = {
      {{"uri", "/notes"}, {"kind", "private"}, {"seq", 1}, {"payload", payload}},
      {{"uri", "https://a.example/scores"}, {"kind", "public"}, {"seq", 2}, {"payload", payload}},
      {{"uri", "/profile"}, {"kind", "public"}, {"seq", 3}, {"payload", payload}},
      {{"storageKey", std::string(64, 'a')}, {"private", "/x"}, {"seq", 4}, {"payload", payload}},
      {{"uri", "/bad"}, {"kind", "public"}, {"seq", -1}, {"payload", payload}},
      {{"uri", "/bad"},
       {"kind", "public"},
       {"seq", 5},
       {"payload", payload},
       {"payloadSha256", "zz"}},
      "not an object",
  };
  for (const json& meta : {json::object(), kPageA}) {
    SCOPED_TRACE(meta.dump());
    const json bulk = call("signBlocks", {{"blocks", blocks}}, "ed25519", meta);
    ASSERT_EQ(codeOf(bulk), "OK") << bulk.dump();
    const json& results = bulk["result"]["results"];
    ASSERT_EQ(results.size(), blocks.size());
    EXPECT_EQ(bulk["result"]["space"], meta.empty() ? "full" : "https://a.example");
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const json single = blocks[i].is_object()
                              ? call("signBlock", blocks[i], "ed25519", meta)
                              : json{{"error", {{"data", {{"error", "BAD_REQUEST"}}}}}};
      if (codeOf(single) == "OK") {
        json expected = single["result"];
        expected.erase("space");
        EXPECT_EQ(results[i], expected) << i;
      } else {
        EXPECT_EQ(results[i]["error"]["data"]["error"], codeOf(single)) << i << results[i].dump();
      }
    }
    if (!meta.empty()) {
      // In a site space, a public uri outside the space is that item's refusal only.
      EXPECT_EQ(results[2]["error"]["data"]["error"], "NOT_ALLOWED_BY_POLICY");
      EXPECT_TRUE(results[1].contains("signature"));
      EXPECT_TRUE(results[0].contains("signature"));
    } else {
      EXPECT_TRUE(results[2].contains("signature"));
    }
  }
  // ECDSA items are P1363 by default, DER with signatureFormat, and verify.
  const json ecBlocks = {
      {{"uri", "/profile"}, {"kind", "public"}, {"seq", 9}, {"payload", payload}}};
  for (const char* format : {"p1363", "der"}) {
    const json r = call("signBlocks", {{"blocks", ecBlocks}, {"signatureFormat", format}}, "p384");
    ASSERT_EQ(codeOf(r), "OK") << r.dump();
    const json& item = r["result"]["results"][0];
    const Bytes signature = bytes64(item["signature"]);
    const bool isDer = std::string(format) == "der";
    EXPECT_EQ(signature.size() == 96, !isDer);
    EXPECT_TRUE(verifies(bytes64(item["publicKey"]), EVP_sha384(),
                         blockMessage(item["storageKey"], 9, "block payload"),
                         isDer ? signature : p1363ToDer(signature).value_or(Bytes{})));
  }
}

TEST_F(Bulk, SealManyAndOpenManyMatchSealAndOpen) {
  const json items = {{{"uri", "/a"}, {"plaintext", toBase64(asBytes("first"))}},
                      {{"uri", "/b"}, {"plaintext", "not base64!"}},
                      {{"uri", "/c"}, {"plaintext", toBase64(asBytes(""))}}};
  for (const json& meta : {json::object(), kPageA}) {
    SCOPED_TRACE(meta.dump());
    const json sealed = call("sealMany", {{"items", items}}, "p256", meta);
    ASSERT_EQ(codeOf(sealed), "OK") << sealed.dump();
    const json& boxes = sealed["result"]["results"];
    ASSERT_EQ(boxes.size(), 3U);
    EXPECT_EQ(boxes[1]["error"]["data"]["error"], "BAD_REQUEST");
    // Each box opens with the single open; a single seal opens with openMany.
    for (const std::size_t i : {std::size_t{0}, std::size_t{2}}) {
      const json opened =
          call("open", {{"uri", items[i]["uri"]}, {"sealed", boxes[i]["sealed"]}}, "p256", meta);
      EXPECT_EQ(opened["result"]["plaintext"], items[i]["plaintext"]) << i;
    }
    const json single = call("seal", items[0], "p256", meta);
    const json toOpen = {{{"uri", "/a"}, {"sealed", single["result"]["sealed"]}},
                         {{"uri", "/b"}, {"sealed", single["result"]["sealed"]}},
                         {{"uri", "/c"}, {"sealed", boxes[2]["sealed"]}}};
    const json opened = call("openMany", {{"items", toOpen}}, "p256", meta);
    ASSERT_EQ(codeOf(opened), "OK") << opened.dump();
    const json& plain = opened["result"]["results"];
    EXPECT_EQ(plain[0], (json{{"plaintext", items[0]["plaintext"]}}));
    EXPECT_EQ(plain[1]["error"]["data"]["error"], "OPEN_FAILED") << "a box for another uri";
    EXPECT_EQ(plain[2], (json{{"plaintext", ""}}));
    EXPECT_EQ(opened["result"]["space"], meta.empty() ? "full" : "https://a.example");
  }
}

TEST_F(Bulk, TooManyItemsOrBytesFailTheCall) {
  const auto uris = [](std::size_t n) { return json(std::vector<std::string>(n, "/x")); };
  const json tooMany =
      call("deriveStorageKeys", {{"kind", "public"}, {"uris", uris(2049)}}, "p256");
  EXPECT_EQ(codeOf(tooMany), "BAD_REQUEST");
  EXPECT_EQ(tooMany["error"]["data"].value("limit", 0), 2048);
  EXPECT_EQ(
      codeOf(call("deriveStorageKeys", {{"kind", "public"}, {"uris", json::array()}}, "p256")),
      "BAD_REQUEST");
  EXPECT_EQ(codeOf(call("deriveStorageKeys", {{"kind", "public"}, {"uris", "/x"}}, "p256")),
            "BAD_REQUEST");
  EXPECT_EQ(codeOf(call("deriveStorageKeys", {{"kind", "public"}, {"uris", uris(2048)}}, "p256")),
            "OK");
  const json block = {
      {"uri", "/x"}, {"kind", "private"}, {"seq", 1}, {"payloadSha256", std::string(64, '0')}};
  EXPECT_EQ(codeOf(call("signBlocks", {{"blocks", json(std::vector<json>(257, block))}}, "p256")),
            "BAD_REQUEST");
  const json box = {{"uri", "/x"}, {"plaintext", ""}};
  EXPECT_EQ(codeOf(call("sealMany", {{"items", json(std::vector<json>(257, box))}}, "p256")),
            "BAD_REQUEST");
  EXPECT_EQ(codeOf(call("openMany", {{"items", json(std::vector<json>(257, box))}}, "p256")),
            "BAD_REQUEST");
  // 512 KiB of plaintext in all, not one byte more.
  const json half = {{"uri", "/x"}, {"plaintext", toBase64(Bytes(262144, 1))}};
  EXPECT_EQ(codeOf(call("sealMany", {{"items", {half, half}}}, "p256")), "OK");
  const json over =
      call("sealMany", {{"items", {half, half, {{"uri", "/x"}, {"plaintext", "AA=="}}}}}, "p256");
  EXPECT_EQ(codeOf(over), "BAD_REQUEST");
  EXPECT_EQ(over["error"]["data"].value("limit", 0), 524288);
}

TEST_F(Bulk, WorstCaseRepliesFitTheBrowsersMessageLimit) {
  // 2048 storage keys, and 2048 item errors.
  const json keys = call(
      "deriveStorageKeys",
      {{"kind", "private"}, {"uris", json(std::vector<std::string>(2048, std::string(4096, 'u')))}},
      "p256");
  ASSERT_EQ(codeOf(keys), "OK");
  EXPECT_LT(replySize(keys), kBrowserMessageLimit);
  const json keyErrors = call(
      "deriveStorageKeys",
      {{"kind", "private"}, {"uris", json(std::vector<std::string>(2048, std::string(4097, 'u')))}},
      "p256");
  ASSERT_EQ(codeOf(keyErrors), "OK");
  EXPECT_EQ(keyErrors["result"]["results"][2047]["error"]["data"]["error"], "BAD_REQUEST");
  EXPECT_LT(replySize(keyErrors), kBrowserMessageLimit);

  // 256 RSA signatures (the largest signature and SPKI), and 256 errors whose
  // messages would echo an input full of control characters if they were not bounded.
  const json publicBlock = {
      {"uri", "/p"}, {"kind", "public"}, {"seq", 1}, {"payloadSha256", std::string(64, '0')}};
  const json signatures =
      call("signBlocks", {{"blocks", json(std::vector<json>(256, publicBlock))}}, "rsa2048");
  ASSERT_EQ(codeOf(signatures), "OK");
  EXPECT_TRUE(signatures["result"]["results"][255].contains("signature"));
  EXPECT_LT(replySize(signatures), kBrowserMessageLimit);
  json badBlock = publicBlock;
  badBlock[std::string(4000, '\x01')] = 1;
  const json blockErrors =
      call("signBlocks", {{"blocks", json(std::vector<json>(256, badBlock))}}, "rsa2048");
  ASSERT_EQ(codeOf(blockErrors), "OK");
  const json& firstError = blockErrors["result"]["results"][0]["error"];
  EXPECT_EQ(firstError["data"]["error"], "BAD_REQUEST");
  EXPECT_LE(firstError["message"].get<std::string>().size(), 200U);
  EXPECT_LT(replySize(blockErrors), kBrowserMessageLimit);

  // 512 KiB of plaintext in 256 boxes, and those boxes opened again.
  std::vector<json> items(
      256, json{{"uri", "/" + std::string(4095, 's')}, {"plaintext", toBase64(Bytes(2048, 0xff))}});
  const json sealed = call("sealMany", {{"items", items}}, "p256");
  ASSERT_EQ(codeOf(sealed), "OK") << sealed.dump().substr(0, 300);
  EXPECT_LT(replySize(sealed), kBrowserMessageLimit);
  // The boxes carry 29 bytes each besides the plaintext: open the largest
  // boxes that fit the byte limit.
  std::vector<json> boxes(256, json{{"uri", "/x"}, {"sealed", toBase64(Bytes(2048, 0))}});
  const json opened = call("openMany", {{"items", boxes}}, "p256");
  ASSERT_EQ(codeOf(opened), "OK");
  EXPECT_LT(replySize(opened), kBrowserMessageLimit);
  const json box =
      call("seal", {{"uri", "/x"}, {"plaintext", toBase64(Bytes(2048 - 29, 0xff))}}, "p256");
  const json reallyOpened = call(
      "openMany",
      {{"items",
        json(std::vector<json>(256, json{{"uri", "/x"}, {"sealed", box["result"]["sealed"]}}))}},
      "p256");
  ASSERT_EQ(codeOf(reallyOpened), "OK");
  EXPECT_TRUE(reallyOpened["result"]["results"][255].contains("plaintext"));
  EXPECT_LT(replySize(reallyOpened), kBrowserMessageLimit);
}

TEST_F(Bulk, ThePinIsAskedOnceAndACancelEndsThePublicItems) {
  harness_->restart([] {
    AgentSetup s;
    s.cancelPin = true;
    return s;
  }());
  const json block = {
      {"uri", "/p"}, {"kind", "public"}, {"seq", 1}, {"payloadSha256", std::string(64, '0')}};
  const json r = call("signBlocks", {{"blocks", json(std::vector<json>(5, block))}}, "p256");
  ASSERT_EQ(codeOf(r), "OK") << r.dump();
  for (const json& item : r["result"]["results"]) {
    EXPECT_EQ(item["error"]["data"]["error"], "PIN_CANCELLED");
  }
  EXPECT_EQ(harness_->countPinentry("GETPIN"), 1) << "no new dialog after the person cancelled";
  // Private items need the root: a cancel there fails the whole call, once.
  const json privateBlock = {
      {"uri", "/p"}, {"kind", "private"}, {"seq", 1}, {"payloadSha256", std::string(64, '0')}};
  EXPECT_EQ(
      codeOf(call("signBlocks", {{"blocks", json(std::vector<json>(5, privateBlock))}}, "p256")),
      "PIN_CANCELLED");
  EXPECT_EQ(harness_->countPinentry("GETPIN"), 2);
}

TEST_F(Bulk, PagesNeedSiteAccessAndTheExtensionsPagesGetNone) {
  const json params = {{"kind", "public"}, {"uris", {"/x"}}};
  EXPECT_EQ(codeOf(call("deriveStorageKeys", params, "p256", kPageA)), "OK");
  const json extension = {{"extension", "abcdefghijklmnopabcdefghijklmnop"}};
  for (const char* method : {"deriveStorageKeys", "signBlocks", "sealMany", "openMany"}) {
    EXPECT_EQ(codeOf(call(method, params, "p256", extension)), "NOT_ALLOWED_BY_POLICY") << method;
  }
}

class BulkWithoutConsent : public Bulk {
 protected:
  AgentSetup setup() override {
    AgentSetup s;
    s.confirm = "no";
    return s;
  }
};

TEST_F(BulkWithoutConsent, APageWithoutAccessGetsNothing) {
  const json page = {{"origin", "https://refused.example"}};
  EXPECT_EQ(codeOf(call("deriveStorageKeys", {{"kind", "public"}, {"uris", {"/x"}}}, "p256", page)),
            "CONSENT_DENIED");
  for (const char* method : {"signBlocks", "sealMany", "openMany"}) {
    EXPECT_EQ(codeOf(call(method, {{"items", {}}}, "p256", page)), "CONSENT_DENIED") << method;
  }
}

// --- the CLI ---------------------------------------------------------------

TEST_F(Bulk, DeriveStdinPrintsWhatSeparateDeriveCallsPrint) {
  const std::string key = harness_->keyUri("p256");
  const std::vector<std::string> uris = {"/notes", "/a b", "/\u00e9t\u00e9", "/x/y/z"};
  const auto input = harness_->home() / "uris.txt";
  std::string lines;
  for (const auto& uri : uris) {
    lines += uri + "\n";
  }
  std::ofstream(input) << lines;
  for (const std::string kind : {"private", "public"}) {
    std::string expected;
    for (const auto& uri : uris) {
      const auto one = harness_->run({P2PCP_CLI_PROGRAM, "derive", kind, uri, "--key", key});
      ASSERT_EQ(one.exitCode, 0) << one.output;
      expected += one.output;
    }
    const auto batch = harness_->run(
        {"/bin/sh", "-c",
         std::string("exec \"$0\" derive ") + kind + " --stdin --key \"$1\" <\"$2\" 2>/dev/null",
         P2PCP_CLI_PROGRAM, key, input.string()});
    EXPECT_EQ(batch.exitCode, 0);
    EXPECT_EQ(batch.output, expected) << kind;
  }
  // A line that fails prints an empty line in its place, says why on stderr, exits 1.
  std::ofstream(input) << "/notes\n\n/x/y/z\n";
  const auto failing = harness_->run(
      {"/bin/sh", "-c", "exec \"$0\" derive private --stdin --key \"$1\" <\"$2\" 2>\"$2.err\"",
       P2PCP_CLI_PROGRAM, key, input.string()});
  EXPECT_EQ(failing.exitCode, 1);
  const auto single = [&](const std::string& uri) {
    return harness_->run({P2PCP_CLI_PROGRAM, "derive", "private", uri, "--key", key}).output;
  };
  EXPECT_EQ(failing.output, single("/notes") + "\n" + single("/x/y/z"));
  std::ifstream errors(input.string() + ".err");
  const std::string stderrText((std::istreambuf_iterator<char>(errors)), {});
  EXPECT_NE(stderrText.find("line 2: BAD_REQUEST"), std::string::npos) << stderrText;
}

}  // namespace
}  // namespace p2pcp::testing
