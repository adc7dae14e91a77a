// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/tokens/remote_token.hpp"

#include <openssl/crypto.h>

#include "p2pcp/common/encoding.hpp"
#include "p2pcp/pkcs11/helper_wire.hpp"
#include "p2pcp/pkcs11/token.hpp"

namespace p2pcp::tokens {

using nlohmann::json;
namespace wire = pkcs11::wire;

namespace {

std::string secretText(const SecureString& secret) {
  return {secret.begin(), secret.end()};  // wiped by HelperProcess::call once sent
}

}  // namespace

RemoteToken::RemoteToken(std::shared_ptr<HelperProcess> helper, std::uint64_t generation,
                         CK_SLOT_ID slot, const CK_TOKEN_INFO& info, std::string moduleName,
                         HelperTimeouts timeouts)
    : helper_(std::move(helper)),
      generation_(generation),
      slot_(slot),
      info_(info),
      moduleName_(std::move(moduleName)),
      timeouts_(timeouts) {}

void RemoteToken::checkGeneration() const {
  if (helper_->generation() != generation_) {
    // Its sessions and login died with the process this token was found in.
    throw HelperUnavailable("the PKCS#11 module " + helper_->modulePath() +
                            " was restarted; the token is looked up again");
  }
}

json RemoteToken::call(json request, std::chrono::milliseconds timeout) {
  checkGeneration();
  request["slot"] = slot_;
  return helper_->call(std::move(request), timeout);
}

pkcs11::TokenDescription RemoteToken::describe() {
  auto description = wire::decodeTokenDescription(call({{"op", "describe"}}, timeouts_.quick));
  description.moduleName = moduleName_;
  return description;
}

bool RemoteToken::loggedIn() {
  return call({{"op", "loggedIn"}}, timeouts_.quick).get<bool>();
}

std::optional<bool> RemoteToken::tryLoggedIn() {
  checkGeneration();
  const auto answer = helper_->tryCall({{"op", "loggedIn"}, {"slot", slot_}}, timeouts_.quick);
  if (!answer) {
    return std::nullopt;
  }
  return answer->get<bool>();
}

pkcs11::TokenDescription RemoteToken::lastDescription() const {
  return pkcs11::describeTokenInfo(lastTokenInfo(), slot_, moduleName_);
}

void RemoteToken::login(const std::optional<SecureString>& pin) {
  json request = {{"op", "login"}, {"pin", nullptr}};
  if (pin) {
    request["pin"] = secretText(*pin);
  }
  // A PIN pad waits for the person; a PIN is checked by the card.
  (void)call(std::move(request), pin ? timeouts_.operation : timeouts_.person);
  invalidateKeys();  // private objects become visible
}

void RemoteToken::logout() noexcept {
  try {
    (void)call({{"op", "logout"}}, timeouts_.quick);
  } catch (...) {
    // A helper that is gone has logged out with its process.
  }
  invalidateKeys();
}

void RemoteToken::invalidateKeys() noexcept {
  const std::scoped_lock lock(mutex_);
  keys_.reset();
  contextLogin_.clear();
}

CK_TOKEN_INFO RemoteToken::lastTokenInfo() const {
  const std::scoped_lock lock(mutex_);
  return info_;
}

void RemoteToken::setLastTokenInfo(const CK_TOKEN_INFO& info) {
  const std::scoped_lock lock(mutex_);
  info_ = info;
}

std::vector<pkcs11::KeyDescription> RemoteToken::keys() {
  {
    const std::scoped_lock lock(mutex_);
    if (keys_) {
      return *keys_;
    }
  }
  // Not under the lock: the helper call may take the module's time.
  std::vector<pkcs11::KeyDescription> keys;
  for (const auto& key : call({{"op", "keys"}}, timeouts_.quick)) {
    keys.push_back(wire::decodeKey(key));
  }
  const std::scoped_lock lock(mutex_);
  keys_ = keys;
  return keys;
}

Bytes RemoteToken::sign(const pkcs11::KeyDescription& key, pkcs11::SignAlgorithm algorithm,
                        ByteView message, const std::optional<SecureString>& contextPin) {
  json request = {{"op", "sign"},
                  {"key", wire::encode(key, false)},
                  {"algorithm", pkcs11::signAlgorithmName(algorithm)},
                  {"message", toBase64(message)}};
  if (contextPin) {
    request["contextPin"] = secretText(*contextPin);
  }
  json signature = call(std::move(request), timeouts_.operation);
  // A signature over the scheme's root message is the root itself (RSA and
  // Ed25519 keys): its text is wiped like any secret.
  auto& text = signature.get_ref<std::string&>();
  auto bytes = fromBase64(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!bytes) {
    throw HelperUnavailable("the PKCS#11 helper sent a malformed signature");
  }
  return std::move(*bytes);
}

SecureBytes RemoteToken::deriveEcdh(const pkcs11::KeyDescription& key, ByteView peerPoint,
                                    const std::optional<SecureString>& contextPin) {
  json request = {
      {"op", "deriveEcdh"}, {"key", wire::encode(key, false)}, {"peer", toBase64(peerPoint)}};
  if (contextPin) {
    request["contextPin"] = secretText(*contextPin);
  }
  json secret = call(std::move(request), timeouts_.operation);
  auto& text = secret.get_ref<std::string&>();
  auto bytes = fromBase64(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!bytes) {
    throw HelperUnavailable("the PKCS#11 helper sent a malformed result");
  }
  SecureBytes out(bytes->begin(), bytes->end());
  OPENSSL_cleanse(bytes->data(), bytes->size());
  return out;
}

bool RemoteToken::needsContextLogin(const pkcs11::KeyDescription& key) {
  {
    const std::scoped_lock lock(mutex_);
    if (const auto it = contextLogin_.find(key.uri); it != contextLogin_.end()) {
      return it->second;
    }
  }
  // A property of the key object: asked once per login, not before every
  // signature (each question is a round trip to the helper).
  const bool needed =
      call({{"op", "needsContextLogin"}, {"key", wire::encode(key, false)}}, timeouts_.quick)
          .get<bool>();
  const std::scoped_lock lock(mutex_);
  contextLogin_[key.uri] = needed;
  return needed;
}

pkcs11::KeyDescription RemoteToken::generateKeyPair(pkcs11::KeyType type,
                                                    const std::string& label) {
  const json key =
      call({{"op", "generateKeyPair"}, {"type", pkcs11::keyTypeName(type)}, {"label", label}},
           timeouts_.person);
  invalidateKeys();
  return wire::decodeKey(key);
}

}  // namespace p2pcp::tokens
