// SPDX-License-Identifier: Apache-2.0
#pragma once
// A token in a slot of a module that runs in a helper process. The same
// operations as pkcs11::Token, each one a bounded call to the helper. A
// RemoteToken belongs to one generation of its helper: once the helper was
// restarted (the sessions and login state died with it), every call throws
// HelperUnavailable until the inventory is scanned again. Thread-safe: calls
// to one module are serialised by its HelperProcess.

#include <p11-kit/pkcs11.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "p2pcp/common/bytes.hpp"
#include "p2pcp/pkcs11/types.hpp"
#include "p2pcp/tokens/helper_process.hpp"

namespace p2pcp::tokens {

class RemoteToken {
 public:
  RemoteToken(std::shared_ptr<HelperProcess> helper, std::uint64_t generation, CK_SLOT_ID slot,
              const CK_TOKEN_INFO& info, std::string moduleName, HelperTimeouts timeouts);

  [[nodiscard]] pkcs11::TokenDescription describe();
  // The token information of the last scan: identity fields for URI matching.
  [[nodiscard]] CK_TOKEN_INFO lastTokenInfo() const;
  void setLastTokenInfo(const CK_TOKEN_INFO& info);
  [[nodiscard]] bool loggedIn();
  // The same, or nullopt at once when the module is busy with another call.
  [[nodiscard]] std::optional<bool> tryLoggedIn();
  // The description the last scan's token information gives (no call).
  [[nodiscard]] pkcs11::TokenDescription lastDescription() const;
  // nullopt: the reader's PIN pad.
  void login(const std::optional<SecureString>& pin);
  void logout() noexcept;
  // Cached until invalidateKeys(), login, logout or key generation.
  [[nodiscard]] std::vector<pkcs11::KeyDescription> keys();
  void invalidateKeys() noexcept;
  Bytes sign(const pkcs11::KeyDescription& key, pkcs11::SignAlgorithm algorithm, ByteView message,
             const std::optional<SecureString>& contextPin = std::nullopt);
  SecureBytes deriveEcdh(const pkcs11::KeyDescription& key, ByteView peerPoint,
                         const std::optional<SecureString>& contextPin = std::nullopt);
  [[nodiscard]] bool needsContextLogin(const pkcs11::KeyDescription& key);
  pkcs11::KeyDescription generateKeyPair(pkcs11::KeyType type, const std::string& label);

  [[nodiscard]] CK_SLOT_ID slot() const noexcept { return slot_; }
  [[nodiscard]] const std::string& moduleName() const noexcept { return moduleName_; }
  [[nodiscard]] const std::string& modulePath() const noexcept { return helper_->modulePath(); }
  [[nodiscard]] const std::shared_ptr<HelperProcess>& helper() const noexcept { return helper_; }
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }

 private:
  nlohmann::json call(nlohmann::json request, std::chrono::milliseconds timeout);
  void checkGeneration() const;

  std::shared_ptr<HelperProcess> helper_;
  std::uint64_t generation_;
  CK_SLOT_ID slot_;
  CK_TOKEN_INFO info_;
  std::string moduleName_;
  HelperTimeouts timeouts_;
  mutable std::mutex mutex_;  // info_ and keys_: requests on several threads read them
  std::optional<std::vector<pkcs11::KeyDescription>> keys_;
  std::map<std::string, bool> contextLogin_;  // needsContextLogin by key URI
};

}  // namespace p2pcp::tokens
