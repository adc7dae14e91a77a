// SPDX-License-Identifier: Apache-2.0
#pragma once
// Everything the agent does with tokens: the inventory, login through
// pinentry, the login-state and root-secret caches, and the p2pcp
// operations. Every module runs in a helper process of its own
// (agent/tokens/), so a module that crashes or hangs costs its tokens
// (TOKEN_UNAVAILABLE), never the agent. Thread-safe: calls to one module are
// serialised by its helper, so a slow or hanging module holds up requests for
// its own tokens only; the agent's own state (logins, cached roots) has a lock
// of its own that is never held during token work; no token work happens on
// the I/O thread. Dialogs go through Dialogs (one at a time).

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/default_key_store.hpp"
#include "p2pcp/agent/dialogs.hpp"
#include "p2pcp/agent/policy_holder.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/pkcs11/uri.hpp"
#include "p2pcp/tokens/remote_inventory.hpp"
#include "p2pcp/tokens/remote_token.hpp"

namespace p2pcp::agent {

using Token = tokens::RemoteToken;

class TokenService {
 public:
  using Clock = std::chrono::steady_clock;
  using EventSink = std::function<void(const nlohmann::json& notification)>;

  // `modulePaths`: canonical paths, already filtered by policy (module_discovery.hpp).
  TokenService(Config config, const PolicyHolder& policy,
               const std::vector<std::string>& modulePaths,
               const std::filesystem::path& helperProgram, Dialogs& dialogs,
               tokens::HelperTimeouts timeouts = {});

  // The policy in force; throws AgentError(NotAllowedByPolicy) while it is malformed.
  [[nodiscard]] std::shared_ptr<const Policy> policy() const { return policy_.current(); }
  [[nodiscard]] const PolicyHolder& policyHolder() const noexcept { return policy_; }
  [[nodiscard]] const Config& config() const noexcept { return config_; }
  void setEventSink(EventSink sink);

  [[nodiscard]] nlohmann::json modules() const;
  nlohmann::json listTokens();
  // Every key's full entry (json_codec.hpp) plus "default": whether a request
  // that names no key uses it.
  nlohmann::json listKeys(const std::optional<std::string>& tokenUri);
  // The key a request names (a PKCS#11 URI, or a key fingerprint: 64 lowercase
  // hex digits), else the default the person chose (setDefaultKey), else the
  // configured default key (agent.json), else the only key there is.
  std::pair<std::shared_ptr<Token>, pkcs11::KeyDescription> resolveKey(
      const std::optional<std::string>& keyRef);

  // Keeps the person's chosen default key in this file (main.cpp; without it a
  // choice lasts until the agent ends).
  void keepDefaultKeyIn(const std::filesystem::path& file);
  // Chooses the default key (nullopt: forgets the choice) and persists it.
  // The key must match exactly one key. Returns the chosen key.
  std::optional<ChosenKey> setDefaultKey(const std::optional<std::string>& keyRef);
  [[nodiscard]] std::optional<ChosenKey> chosenDefaultKey() const;

  // Logs in to the token (pinentry unless a PIN pad or already logged in).
  void login(const Caller& caller, const std::shared_ptr<Token>& token);
  std::shared_ptr<Token> findToken(const std::optional<std::string>& tokenUri);
  // The token's current description, read under the token lock.
  pkcs11::TokenDescription describe(const std::shared_ptr<Token>& token);
  // Logs out of every token and wipes every cached secret.
  void lockAll();

  // The person's root secret for this key (docs/scheme.md), from the cache or the token.
  SecureBytes root(const Caller& caller, const std::shared_ptr<Token>& token,
                   const pkcs11::KeyDescription& key);
  // Signs with the token key itself (block writes, logins, raw signing).
  Bytes sign(const Caller& caller, const std::shared_ptr<Token>& token,
             const pkcs11::KeyDescription& key, pkcs11::SignAlgorithm algorithm, ByteView message);
  pkcs11::KeyDescription generateKey(const Caller& caller, const std::shared_ptr<Token>& token,
                                     pkcs11::KeyType type, const std::string& label);

  // Called about once a second: expires idle logins and notices token insertion/removal.
  // While the policy is malformed, no login is kept.
  void tick();
  // After a policy reload: serves exactly these modules (canonical paths), stopping
  // the helpers of the others and forgetting their tokens' logins, then applies
  // the new cache limits at once.
  void useModules(const std::vector<std::string>& modulePaths);
  // Whether the agent holds a login (or secrets derived under one) on any token.
  [[nodiscard]] bool holdsLogins();
  // Waits up to `timeout` for a slot event from a module that reports them
  // (C_WaitForSlotEvent in its helper; OpenSC does, SoftHSM2 does not) or for
  // a helper that exited. True: scan now (tick) rather than at the next second.
  bool waitForSlotEvent(std::chrono::milliseconds timeout);

 private:
  // The "PIN cache" is the token's own login state: the PIN itself is never kept.
  struct LoginState {
    Clock::time_point loggedInAt;
    Clock::time_point lastUsed;
  };

  // Runs f (token work) and turns a helper's failure into TOKEN_UNAVAILABLE and
  // a token that went away into TOKEN_REMOVED, dropping its login and caches.
  template <typename F>
  auto withToken(const std::shared_ptr<Token>& token, F&& f);
  void forgetToken(const Token* token);
  void forgetEveryLogin();
  void rescanAfterHelperFailure() noexcept;
  // The agent logged in to the token just now / used its login just now.
  void noteLoggedIn(const Token* token);
  void noteUsed(const Token* token);
  // Whether the agent holds a login on the token that the token still has;
  // forgets the login and the secrets derived under it when not.
  bool stillLoggedIn(const std::shared_ptr<Token>& token);
  std::optional<SecureString> contextPin(const Caller& caller, const std::shared_ptr<Token>& token,
                                         const pkcs11::KeyDescription& key);
  SecureBytes computeRoot(const Caller& caller, const std::shared_ptr<Token>& token,
                          const pkcs11::KeyDescription& key);
  static SecureString askPin(Dialogs::Turn& turn, const pkcs11::TokenDescription& token,
                             const std::string& why);
  // Scans the modules, then drops state of tokens gone and sends token events.
  void refresh();
  // Runs op; if the token says nobody is logged in (another program logged it out),
  // logs in again once (asking the person) and repeats op.
  template <typename Op>
  auto withLogin(const Caller& caller, const std::shared_ptr<Token>& token, Op&& op);
  // The one key `ref` (URI or fingerprint) names; throws LayerError or AgentError.
  std::pair<std::shared_ptr<Token>, pkcs11::KeyDescription> findKey(const std::string& ref) const;
  // resolveKey's lookup and its cache entry, after the cache missed.
  std::pair<std::shared_ptr<Token>, pkcs11::KeyDescription> lookUpKey(const std::string& ref);

  Config config_;
  const PolicyHolder& policy_;
  Dialogs& dialogs_;

  std::mutex stateMutex_;  // logins_, roots_, resolved_, knownTokenUris_, eventSink_
  tokens::RemoteInventory inventory_;
  std::map<const Token*, LoginState> logins_;
  std::map<std::string, std::pair<const Token*, SecureBytes>> roots_;  // by key URI
  // Request URI -> resolved key: resolving parses the URI and walks every token's
  // key list, which costs more than a signature on a fast token.
  std::map<std::string, std::pair<std::shared_ptr<Token>, pkcs11::KeyDescription>> resolved_;
  std::vector<std::string> knownTokenUris_;
  EventSink eventSink_;
  std::unique_ptr<DefaultKeyStore> chosenDefault_;  // set once at startup (keepDefaultKeyIn)
  // Event pipes of helpers that exited (hung up): not polled again, or poll
  // would return at once until the helper is restarted. Only the watcher uses it.
  std::vector<std::shared_ptr<const tokens::SlotEvents>> hungUp_;
};

// Converts an exception from a lower layer into the protocol's AgentError.
[[noreturn]] void rethrowAsAgentError();

}  // namespace p2pcp::agent
