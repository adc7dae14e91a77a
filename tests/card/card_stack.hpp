// SPDX-License-Identifier: Apache-2.0
#pragma once
// The real smartcard stack for a test, as root: an NSS database with RSA keys
// and certificates (the card's contents), a private pcscd with vsmartcard's
// vpcd reader driver on a free port, and p2pcp-cac-bridge, which presents the
// database as a CAC card (libcacard) in vpcd's reader, so OpenSC's PKCS#11
// module sees a card in a reader. pcscd and everything that talks to it (the
// agent, pkcs11-tool) run in one private mount namespace with its own /run, so
// the machine's pcscd, if any, is left alone. Everything is stopped by pid when
// the stack goes out of scope; a test process that dies takes its children
// along (PR_SET_PDEATHSIG), and the namespace with its mounts goes with them.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent_harness.hpp"
#include "child_process.hpp"
#include "p2pcp/common/bytes.hpp"

namespace p2pcp::testing {

struct CardSetup {
  // The card's PIN: the NSS database password (4 to 8 characters; libcacard
  // checks a VERIFY against it). A wrong PIN is CKR_GENERAL_ERROR, with no
  // retry counter.
  std::string pin = "12345678";
  // A second key pair (certutil makes it) beside tests/fixtures/rsa2048.pem.
  bool secondKey = true;
  bool cardInserted = true;  // the card is in the reader when the stack is up
};

// One key pair on the card, with the certificate libcacard presents for it.
struct CardKey {
  std::string nickname;        // in the NSS database
  std::string subject;         // the certificate's CN
  std::string certificatePem;  // as certutil exports it
  Bytes spki;                  // DER SubjectPublicKeyInfo of the certificate's key
  // The private key file when the key is a fixture key (the documented test
  // vectors of docs/scheme.md apply to it), else empty.
  std::filesystem::path fixturePrivateKey;
};

// How long each part of the start-up took.
struct CardStackTimings {
  std::chrono::milliseconds database{};  // NSS database with keys and certificates
  std::chrono::milliseconds pcscd{};     // pcscd started until its socket exists
  std::chrono::milliseconds bridge{};    // bridge started until connected to vpcd
  std::chrono::milliseconds cardSeen{};  // connected until OpenSC lists the token
};

class CardStack {
 public:
  static constexpr const char* kOpenScModule = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

  // Why the stack cannot run here (not root, a package missing), or nothing.
  static std::optional<std::string> missingPrerequisite();

  explicit CardStack(CardSetup setup = {});
  CardStack(const CardStack&) = delete;
  CardStack& operator=(const CardStack&) = delete;
  CardStack(CardStack&&) = delete;
  CardStack& operator=(CardStack&&) = delete;
  ~CardStack();

  // An agent on this card: OpenSC's module, the card's PIN for the scripted
  // pinentry, run inside the stack's namespace, no SoftHSM2 fixture keys.
  [[nodiscard]] AgentSetup agentSetup() const;

  // Pull the card out / put it back. Each returns when the bridge has closed /
  // opened its connection to vpcd; pcscd notices at its next poll (~0.4 s).
  void removeCard();
  void insertCard();
  // Out and straight back in (a swap, or the same card re-plugged); returns when
  // pcscd has logged both the removal and the new insertion.
  void swapCard();
  void stopPcscd();
  void startPcscd();

  // Whether OpenSC (pkcs11-tool -L, inside the namespace) lists the card's token.
  [[nodiscard]] bool cardListedByOpenSc() const;
  // Polls cardListedByOpenSc() until it equals `listed`; false at the deadline.
  [[nodiscard]] bool waitUntilListed(bool listed, std::chrono::milliseconds timeout) const;
  // Runs a program inside the namespace to completion; output appended to `log`.
  int runInside(const std::vector<std::string>& argv, const std::filesystem::path& log) const;

  [[nodiscard]] const std::vector<CardKey>& keys() const noexcept { return keys_; }
  [[nodiscard]] const std::string& pin() const noexcept { return setup_.pin; }
  [[nodiscard]] const CardStackTimings& timings() const noexcept { return timings_; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  [[nodiscard]] int vpcdPort() const noexcept { return port_; }
  [[nodiscard]] std::vector<std::string> launcher() const { return namespace_->launcher(); }
  [[nodiscard]] std::string pcscdLog() const;
  [[nodiscard]] std::string bridgeLog() const;
  // How often pcscd's log says `text` ("Card Removed From", "Card inserted into").
  [[nodiscard]] int pcscdLogCount(const std::string& text) const;

 private:
  void makeDatabase();
  void writeReaderConf() const;
  void startBridge();
  // Reads the bridge's status lines until `event`; throws at the deadline.
  void awaitBridge(const std::string& event);

  CardSetup setup_;
  std::filesystem::path dir_;
  std::vector<CardKey> keys_;
  int port_ = 0;
  CardStackTimings timings_;
  std::unique_ptr<MountNamespace> namespace_;
  std::unique_ptr<ChildProcess> pcscd_;
  std::unique_ptr<ChildProcess> bridge_;
};

}  // namespace p2pcp::testing
