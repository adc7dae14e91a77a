// SPDX-License-Identifier: Apache-2.0
// The PKCS#11 helper process (p2pcp-pkcs11-helper) and the agent's client of
// it on a real SoftHSM2 token: operations give the same results and the same
// typed errors as in process; a helper that dies or stops answering is
// HelperUnavailable within its bound, and the next scan starts a new one.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "p2pcp/common/ossl.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/tokens/remote_inventory.hpp"
#include "softhsm_token.hpp"

namespace p2pcp::tokens {
namespace {

using pkcs11::KeyType;
using pkcs11::SignAlgorithm;
using testing::SoftHsmToken;

bool verifies(ByteView spki, ByteView message, ByteView signature) {
  const unsigned char* p = spki.data();
  const ossl::EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  if (!key) {
    return false;
  }
  const ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const bool edwards = EVP_PKEY_get_id(key.get()) == EVP_PKEY_ED25519;
  return EVP_DigestVerifyInit(ctx.get(), nullptr, edwards ? nullptr : EVP_sha256(), nullptr,
                              key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

// Whether this process has the module mapped (it must not: only helpers do).
bool mapsModule(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  return text.find("libsofthsm2") != std::string::npos;
}

class Helper : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = SoftHsmToken::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    token_ = std::make_unique<SoftHsmToken>();
    HelperTimeouts timeouts;
    timeouts.quick = std::chrono::milliseconds(1500);
    timeouts.operation = std::chrono::milliseconds(1500);
    inventory_ = std::make_unique<RemoteInventory>(
        std::vector<std::string>{testing::kSoftHsmModule}, P2PCP_PKCS11_HELPER, timeouts);
    inventory_->refresh();
    ASSERT_EQ(inventory_->tokens().size(), 1U);
  }
  std::shared_ptr<RemoteToken> token() { return inventory_->tokens().front(); }
  SecureString pin() const { return {token_->pin().begin(), token_->pin().end()}; }

  std::unique_ptr<SoftHsmToken> token_;
  std::unique_ptr<RemoteInventory> inventory_;
};

TEST_F(Helper, OperationsThroughTheHelperVerify) {
  auto t = token();
  EXPECT_EQ(t->describe().label, "p2pcp-test");
  EXPECT_FALSE(t->loggedIn());
  t->login(pin());
  EXPECT_TRUE(t->loggedIn());
  const Bytes message = {'p', '2', 'p', 'c', 'p'};
  for (const KeyType type : {KeyType::EcP256, KeyType::Rsa, KeyType::Ed25519}) {
    const auto key =
        t->generateKeyPair(type, std::string("k-") + std::string(pkcs11::keyTypeName(type)));
    const SignAlgorithm algorithm = type == KeyType::Rsa      ? SignAlgorithm::RsaPkcs1Sha256
                                    : type == KeyType::EcP256 ? SignAlgorithm::EcdsaSha256
                                                              : SignAlgorithm::Ed25519;
    const Bytes signature = t->sign(key, algorithm, message);
    EXPECT_TRUE(verifies(key.spki, message, signature)) << pkcs11::keyTypeName(type);
  }
  EXPECT_EQ(t->keys().size(), 3U);
  EXPECT_FALSE(mapsModule(::getpid())) << "the vendor module is mapped in the client process";
  ASSERT_GT(t->helper()->pid(), 0);
  EXPECT_TRUE(mapsModule(t->helper()->pid())) << "the helper runs the module";
}

TEST_F(Helper, TheHelpersTypedErrorsComeBackAsTheSameExceptions) {
  auto t = token();
  const SecureString wrong = {'0', '0', '0', '0'};
  try {
    t->login(wrong);
    FAIL() << "a wrong PIN was accepted";
  } catch (const pkcs11::Pkcs11Error& e) {
    EXPECT_EQ(e.rv(), static_cast<CK_RV>(CKR_PIN_INCORRECT));
    EXPECT_EQ(e.function(), "C_Login");
  }
  EXPECT_THROW((void)inventory_->findKey("pkcs11:object=no-such-key"), pkcs11::LayerError);
}

TEST_F(Helper, AHelperThatDiesIsUnavailableAndTheNextScanStartsANewOne) {
  auto t = token();
  t->login(pin());
  const pid_t first = t->helper()->pid();
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  EXPECT_THROW((void)t->loggedIn(), HelperUnavailable);
  inventory_->refresh();
  ASSERT_EQ(inventory_->tokens().size(), 1U);
  auto again = token();
  EXPECT_NE(again.get(), t.get()) << "a token of a dead helper is never reused";
  EXPECT_THROW((void)t->loggedIn(), HelperUnavailable) << "the old one stays stale";
  EXPECT_NE(again->helper()->pid(), first);
  EXPECT_FALSE(again->loggedIn()) << "the login died with the old helper";
}

TEST_F(Helper, AHelperThatStopsAnsweringIsKilledWithinItsBound) {
  auto t = token();
  const pid_t stuck = t->helper()->pid();
  ASSERT_EQ(::kill(stuck, SIGSTOP), 0);  // a module hung in a call
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW((void)t->describe(), HelperUnavailable);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(5)) << "the call is bounded (1.5 s here)";
  EXPECT_NE(::kill(stuck, 0), 0) << "the hung helper was killed and reaped";
  inventory_->refresh();
  EXPECT_EQ(token()->describe().label, "p2pcp-test");
}

}  // namespace
}  // namespace p2pcp::tokens
