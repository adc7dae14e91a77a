// SPDX-License-Identifier: Apache-2.0
// The card stack itself, before any agent: OpenSC finds the emulated CAC card
// behind the private pcscd, signs with its keys after a real PIN check, and
// sees it pulled, put back and found again after a pcscd restart.
#include "card_stack.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "card_checks.hpp"

namespace p2pcp::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

#define SKIP_WITHOUT_CARD_STACK()                        \
  if (auto missing = CardStack::missingPrerequisite()) { \
    GTEST_SKIP() << *missing;                            \
  }

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

TEST(CardStack, OpenScSeesTheCardAndSignsAfterTheRealPinCheck) {
  SKIP_WITHOUT_CARD_STACK();
  const auto start = Clock::now();
  const CardStack stack;
  const auto total = since(start);
  const auto& t = stack.timings();
  std::cout << "[ figures  ] card stack start-up " << total.count() << " ms: NSS database "
            << t.database.count() << " ms, pcscd " << t.pcscd.count() << " ms, bridge connected "
            << t.bridge.count() << " ms, OpenSC lists the card " << t.cardSeen.count() << " ms\n";

  const fs::path objects = stack.dir() / "objects.out";
  ASSERT_EQ(stack.runInside(
                {"/usr/bin/pkcs11-tool", "--module", CardStack::kOpenScModule, "--list-objects"},
                objects),
            0);
  const std::string listed = readFile(objects);
  for (const auto& key : stack.keys()) {
    EXPECT_NE(listed.find("CN=" + key.subject), std::string::npos)
        << key.nickname << "'s certificate is on the card:\n"
        << listed;
  }

  // A signature made on the card after its PIN check, verified by OpenSSL
  // against the certificate's key.
  const fs::path message = stack.dir() / "message";
  const fs::path signature = stack.dir() / "signature";
  std::ofstream(message) << "signed on the emulated card";
  const fs::path log = stack.dir() / "sign.log";
  ASSERT_EQ(stack.runInside(
                {"/usr/bin/pkcs11-tool", "--module", CardStack::kOpenScModule, "--login", "--pin",
                 stack.pin(), "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "0001",
                 "--input-file", message.string(), "--output-file", signature.string()},
                log),
            0)
      << readFile(log);
  const std::string signed_ = readFile(message);
  const std::string sig = readFile(signature);
  EXPECT_TRUE(verifyRsaSha256(stack.keys()[0].spki, asBytes(signed_), asBytes(sig)));
  Bytes changed(sig.begin(), sig.end());
  changed.at(10) ^= 1U;
  EXPECT_FALSE(verifyRsaSha256(stack.keys()[0].spki, asBytes(signed_), changed))
      << "the check itself refuses a changed signature";
  if (stack.keys().size() > 1) {
    EXPECT_FALSE(verifyRsaSha256(stack.keys()[1].spki, asBytes(signed_), asBytes(sig)))
        << "and another key";
  }

  // The wrong PIN: the emulated card answers CKR_GENERAL_ERROR (no retry counter).
  const fs::path wrong = stack.dir() / "wrong-pin.log";
  EXPECT_NE(stack.runInside({"/usr/bin/pkcs11-tool", "--module", CardStack::kOpenScModule,
                             "--login", "--pin", "87654321", "--list-objects"},
                            wrong),
            0);
  EXPECT_NE(readFile(wrong).find("CKR_GENERAL_ERROR"), std::string::npos) << readFile(wrong);
}

TEST(CardStack, RemovalAndInsertionReachOpenSc) {
  SKIP_WITHOUT_CARD_STACK();
  CardStack stack;
  for (int round = 0; round < 2; ++round) {
    auto start = Clock::now();
    stack.removeCard();
    ASSERT_TRUE(stack.waitUntilListed(false, std::chrono::seconds(10))) << stack.pcscdLog();
    const auto removal = since(start);
    start = Clock::now();
    stack.insertCard();
    ASSERT_TRUE(stack.waitUntilListed(true, std::chrono::seconds(10))) << stack.pcscdLog();
    std::cout << "[ figures  ] OpenSC sees the removal after " << removal.count()
              << " ms, the insertion after " << since(start).count() << " ms\n";
  }
  // A fast swap: out and straight back in. pcscd still sees the card gone for
  // one poll (swapCard() waits for both lines in its log).
  const int removals = stack.pcscdLogCount("Card Removed From");
  const auto start = Clock::now();
  stack.swapCard();
  std::cout << "[ figures  ] pcscd saw a fast swap (removal and insertion) within "
            << since(start).count() << " ms\n";
  EXPECT_EQ(stack.pcscdLogCount("Card Removed From"), removals + 1);
  EXPECT_TRUE(stack.waitUntilListed(true, std::chrono::seconds(10)));
}

TEST(CardStack, CardComesBackAfterAPcscdRestart) {
  SKIP_WITHOUT_CARD_STACK();
  CardStack stack;
  stack.stopPcscd();
  EXPECT_FALSE(stack.cardListedByOpenSc());
  const auto start = Clock::now();
  stack.startPcscd();
  ASSERT_TRUE(stack.waitUntilListed(true, std::chrono::seconds(10))) << stack.bridgeLog();
  std::cout << "[ figures  ] OpenSC lists the card " << since(start).count()
            << " ms after pcscd was started again\n";
}

TEST(CardStack, StartsWithTheCardOut) {
  SKIP_WITHOUT_CARD_STACK();
  CardSetup setup;
  setup.cardInserted = false;
  CardStack stack(setup);
  EXPECT_FALSE(stack.cardListedByOpenSc());
  stack.insertCard();
  EXPECT_TRUE(stack.waitUntilListed(true, std::chrono::seconds(10)));
}

}  // namespace
}  // namespace p2pcp::testing
