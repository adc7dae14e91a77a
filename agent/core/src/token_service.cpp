// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/token_service.hpp"

#include <poll.h>

#include <algorithm>
#include <thread>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_codec.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/no_wait.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/text.hpp"
#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::agent {

using nlohmann::json;
using pkcs11::KeyDescription;
using pkcs11::KeyType;
using pkcs11::Pkcs11Error;
using tokens::HelperUnavailable;

namespace {

AgentError pinError(ErrorCode code, const std::string& message,
                    const pkcs11::TokenDescription& token) {
  return AgentError(code, message,
                    {{"pinState", pkcs11::pinStateName(token.pinState)}, {"token", token.uri}});
}

// Codes some modules answer when the card was pulled in the middle of an
// operation (OpenSC: CKR_GENERAL_ERROR from C_Sign), besides their other causes.
bool failureMayMeanRemoval(CK_RV rv) {
  return rv == CKR_GENERAL_ERROR || rv == CKR_DEVICE_ERROR || rv == CKR_FUNCTION_FAILED;
}

// The session is gone but the token may be back (a card pulled and put back
// since): an operation under withLogin logs in again once and repeats.
bool staleSession(CK_RV rv) {
  return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

// Whether the token's slot says it is gone (asked after an ambiguous failure).
bool tokenAbsent(Token& token) {
  try {
    (void)token.loggedIn();  // C_GetSlotInfo first
    return false;
  } catch (const Pkcs11Error& e) {
    return e.tokenGone();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

TokenService::TokenService(Config config, const PolicyHolder& policy,
                           const std::vector<std::string>& modulePaths,
                           const std::filesystem::path& helperProgram, Dialogs& dialogs,
                           tokens::HelperTimeouts timeouts)
    : config_(std::move(config)),
      policy_(policy),
      dialogs_(dialogs),
      inventory_(modulePaths, helperProgram, timeouts) {
  refresh();
}

void TokenService::setEventSink(EventSink sink) {
  const std::scoped_lock lock(stateMutex_);
  eventSink_ = std::move(sink);
}

template <typename F>
auto TokenService::withToken(const std::shared_ptr<Token>& token, F&& f) {
  requireMayWait();  // a helper's answer takes a round trip, or a slow card's time
  try {
    return f();
  } catch (const HelperUnavailable& e) {
    logWarning(std::string("PKCS#11 helper failed: ") + e.what());
    forgetToken(token.get());
    rescanAfterHelperFailure();
    throw AgentError(ErrorCode::TokenUnavailable,
                     "the token's PKCS#11 module stopped working; it is started again on next use",
                     {{"module", token->moduleName()}});
  } catch (const Pkcs11Error& e) {
    if ((e.tokenGone() && !staleSession(e.rv())) ||
        (failureMayMeanRemoval(e.rv()) && tokenAbsent(*token))) {
      logInfo(std::string("token gone: ") + e.what());
      forgetToken(token.get());
      throw AgentError(ErrorCode::TokenRemoved, "the token was removed",
                       {{"ckr", pkcs11::ckrName(e.rv())}});
    }
    if (e.sessionBroken() || e.rv() == CKR_USER_NOT_LOGGED_IN) {
      // Someone logged the token out behind our back (another application, a reset):
      // forget our state so the next request asks for the PIN again.
      forgetToken(token.get());
    }
    throw;  // withLogin may log in again once; else error mapping types it
  }
}

void TokenService::rescanAfterHelperFailure() noexcept {
  // The failed helper was stopped; the scan starts a new one, so the next
  // request finds its tokens again instead of the dead process's.
  try {
    refresh();
  } catch (const std::exception& e) {
    logWarning(std::string("token scan failed: ") + e.what());
  }
}

void TokenService::forgetEveryLogin() {
  const std::scoped_lock lock(stateMutex_);
  logins_.clear();
  roots_.clear();
  resolved_.clear();
}

void TokenService::forgetToken(const Token* token) {
  const std::scoped_lock lock(stateMutex_);
  logins_.erase(token);
  resolved_.clear();
  std::erase_if(roots_, [token](const auto& entry) { return entry.second.first == token; });
}

json TokenService::modules() const {
  json out = json::array();
  for (const auto& module : inventory_.modules()) {
    json entry = {{"name", module.name}, {"path", module.path}, {"available", module.available}};
    if (!module.available && !module.error.empty()) {
      entry["error"] = module.error;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

void TokenService::refresh() {
  inventory_.refresh();
  const auto tokens = inventory_.tokens();
  std::vector<std::string> now;
  now.reserve(tokens.size());
  for (const auto& token : tokens) {
    now.push_back(pkcs11::formatTokenUri(token->lastTokenInfo()));
  }
  const std::scoped_lock lock(stateMutex_);
  if (now != knownTokenUris_) {
    resolved_.clear();
  }
  const auto listed = [&tokens](const Token* token) {
    return std::any_of(tokens.begin(), tokens.end(),
                       [&](const auto& t) { return t.get() == token; });
  };
  // Login state belongs to Token objects; those no longer listed are gone.
  std::erase_if(resolved_, [&](const auto& entry) { return !listed(entry.second.first.get()); });
  std::erase_if(logins_, [&](const auto& entry) { return !listed(entry.first); });
  std::erase_if(roots_, [&](const auto& entry) { return !listed(entry.second.first); });
  if (eventSink_) {
    for (const auto& uri : now) {
      if (std::find(knownTokenUris_.begin(), knownTokenUris_.end(), uri) == knownTokenUris_.end()) {
        eventSink_({{"jsonrpc", "2.0"}, {"method", "tokenInserted"}, {"params", {{"token", uri}}}});
      }
    }
    for (const auto& uri : knownTokenUris_) {
      if (std::find(now.begin(), now.end(), uri) == now.end()) {
        eventSink_({{"jsonrpc", "2.0"}, {"method", "tokenRemoved"}, {"params", {{"token", uri}}}});
      }
    }
  }
  knownTokenUris_ = std::move(now);
}

json TokenService::listTokens() {
  requireMayWait();
  refresh();  // the scan read every token's information, except a busy module's
  json out = json::array();
  for (const auto& token : inventory_.tokens()) {
    json entry = toJson(token->lastDescription());
    try {
      // A module busy with a slow (or hanging) operation is not waited for:
      // its token is listed as the agent last knew it.
      const auto loggedIn = token->tryLoggedIn();
      if (loggedIn) {
        entry["loggedIn"] = *loggedIn;
      } else {
        const std::scoped_lock lock(stateMutex_);
        entry["loggedIn"] = logins_.contains(token.get());
        entry["busy"] = true;
      }
    } catch (const Pkcs11Error& e) {
      if (!e.tokenGone()) {
        logWarning("token " + entry.value("label", "") + " unreadable: " + e.what());
        continue;
      }
      forgetToken(token.get());  // swapped since the scan: listed, logged out
      entry["loggedIn"] = false;
    } catch (const std::exception& e) {  // HelperUnavailable: gone until the next scan
      logWarning("token " + entry.value("label", "") + " unavailable: " + e.what());
      continue;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

json TokenService::listKeys(const std::optional<std::string>& tokenUri) {
  requireMayWait();
  refresh();
  std::optional<pkcs11::UriFilter> filter;
  if (tokenUri) {
    filter.emplace(*tokenUri);
  }
  // Every token's keys, so that the default is found as resolveKey finds it
  // even when the listing shows one token only.
  struct Listed {
    json entry;
    bool shown;
    bool matchesDefault;
  };
  const auto chosen = chosenDefaultKey();
  const std::string defaultRef =
      chosen ? chosen->fingerprint : config_.defaultKey.value_or("pkcs11:");
  std::optional<pkcs11::UriFilter> defaultFilter;
  if (!isKeyFingerprint(defaultRef)) {
    try {
      defaultFilter.emplace(defaultRef);
    } catch (const pkcs11::LayerError&) {
      // A malformed defaultKey names no key; requests that use it say why.
    }
  }
  std::vector<Listed> keys;
  for (const auto& token : inventory_.tokens()) {
    const bool shown = !filter || filter->matchesToken(token->lastTokenInfo());
    try {
      for (const auto& key : token->keys()) {
        json entry = toJson(key);
        const bool matches =
            defaultFilter ? defaultFilter->matchesToken(token->lastTokenInfo()) &&
                                defaultFilter->matchesObject(key.id, key.label, CKO_PRIVATE_KEY)
                          : entry["fingerprint"] == defaultRef;
        keys.push_back({std::move(entry), shown, matches});
      }
    } catch (const std::exception& e) {
      // One unreadable token (or module) must not hide the keys of the others.
      logWarning("cannot list the keys of the token in slot " + std::to_string(token->slot()) +
                 ": " + e.what());
    }
  }
  // A default that names several keys is no default (KEY_AMBIGUOUS when used).
  const bool oneDefault = std::count_if(keys.begin(), keys.end(),
                                        [](const Listed& k) { return k.matchesDefault; }) == 1;
  json out = json::array();
  for (auto& key : keys) {
    if (key.shown) {
      key.entry["default"] = oneDefault && key.matchesDefault;
      out.push_back(std::move(key.entry));
    }
  }
  return out;
}

std::shared_ptr<Token> TokenService::findToken(const std::optional<std::string>& tokenUri) {
  requireMayWait();
  refresh();
  return inventory_.findToken(tokenUri.value_or("pkcs11:"));
}

pkcs11::TokenDescription TokenService::describe(const std::shared_ptr<Token>& token) {
  return withToken(token, [&] { return token->describe(); });
}

namespace {

std::string fingerprintOf(const KeyDescription& key) {
  return toHex(scheme::fingerprint(key.spki));
}

// A request's `key`: a PKCS#11 URI or a key fingerprint, nothing else.
void requireKeyReference(const std::string& ref) {
  if (ref.starts_with("pkcs11:")) {
    try {
      (void)pkcs11::UriFilter(ref);
    } catch (const pkcs11::LayerError& e) {
      throw AgentError(ErrorCode::BadRequest, std::string("key: ") + e.what(), {{"param", "key"}});
    }
    return;
  }
  if (!isKeyFingerprint(ref)) {
    throw AgentError(ErrorCode::BadRequest,
                     "key must be a PKCS#11 URI (pkcs11:...) or a key fingerprint (64 lowercase "
                     "hex digits)",
                     {{"param", "key"}});
  }
}

}  // namespace

std::pair<std::shared_ptr<Token>, KeyDescription> TokenService::findKey(
    const std::string& ref) const {
  if (!isKeyFingerprint(ref)) {
    return inventory_.findKey(ref);
  }
  std::optional<std::pair<std::shared_ptr<Token>, KeyDescription>> match;
  for (const auto& token : inventory_.tokens()) {
    for (auto& key : token->keys()) {
      if (fingerprintOf(key) != ref) {
        continue;
      }
      if (match) {
        throw pkcs11::LayerError(pkcs11::LayerError::Kind::AmbiguousKey,
                                 "several keys have the fingerprint " + ref +
                                     " (copies on two tokens); name one by its URI");
      }
      match.emplace(token, std::move(key));
    }
  }
  if (!match) {
    throw pkcs11::LayerError(pkcs11::LayerError::Kind::NoSuchKey,
                             "no key has the fingerprint " + ref);
  }
  return std::move(*match);
}

void TokenService::keepDefaultKeyIn(const std::filesystem::path& file) {
  chosenDefault_ = std::make_unique<DefaultKeyStore>(file);
}

std::optional<ChosenKey> TokenService::chosenDefaultKey() const {
  return chosenDefault_ ? chosenDefault_->current() : std::nullopt;
}

std::optional<ChosenKey> TokenService::setDefaultKey(const std::optional<std::string>& keyRef) {
  if (!chosenDefault_) {
    throw AgentError(ErrorCode::Unsupported, "this agent keeps no state to remember a default key");
  }
  std::optional<ChosenKey> chosen;
  if (keyRef) {
    const auto [token, key] = resolveKey(keyRef);
    chosen = ChosenKey{fingerprintOf(key), key.label, key.uri};
  }
  chosenDefault_->choose(chosen);
  logInfo(chosen ? "default key chosen: \"" + chosen->label + "\" (" + chosen->fingerprint + ")"
                 : std::string("chosen default key forgotten"));
  return chosen;
}

std::pair<std::shared_ptr<Token>, KeyDescription> TokenService::resolveKey(
    const std::optional<std::string>& keyRef) {
  const auto chosen = keyRef ? std::nullopt : chosenDefaultKey();
  // Cached by what the request (or the default) names: a URI never looks like a fingerprint.
  const std::string uri = keyRef               ? *keyRef
                          : chosen             ? chosen->fingerprint
                          : config_.defaultKey ? *config_.defaultKey
                                               : std::string("pkcs11:");
  {
    const std::scoped_lock lock(stateMutex_);
    if (const auto it = resolved_.find(uri); it != resolved_.end()) {
      return it->second;
    }
  }
  if (keyRef) {
    requireKeyReference(*keyRef);  // after the cache: what it holds was checked
  }
  try {
    return lookUpKey(uri);
  } catch (const pkcs11::LayerError& e) {
    if (!chosen || e.kind() != pkcs11::LayerError::Kind::NoSuchKey) {
      throw;
    }
    // Never a silent fallback to another key: the person chose this one.
    throw AgentError(
        ErrorCode::KeyNotFound,
        "the default key you chose, \"" + chosen->label + "\" (fingerprint " + chosen->fingerprint +
            "), is not present: insert its token, or choose another default key",
        {{"defaultKey", {{"label", chosen->label}, {"fingerprint", chosen->fingerprint}}}});
  }
}

std::pair<std::shared_ptr<Token>, KeyDescription> TokenService::lookUpKey(const std::string& uri) {
  requireMayWait();  // the lookup asks the helpers
  std::pair<std::shared_ptr<Token>, KeyDescription> found;
  const auto lookUp = [&] {
    try {
      return findKey(uri);
    } catch (const pkcs11::LayerError& e) {
      if (e.kind() == pkcs11::LayerError::Kind::BadUri) {
        throw;
      }
      // A token may have been inserted since the last scan: look once more.
      refresh();
      return findKey(uri);
    }
  };
  try {
    try {
      found = lookUp();
    } catch (const Pkcs11Error& e) {
      if (e.rv() != CKR_SESSION_HANDLE_INVALID && e.rv() != CKR_SESSION_CLOSED) {
        throw;  // a card that is gone now is reported as such
      }
      // A stale session: the card was pulled and put back since the last look,
      // and its login went with the old session. Forget every login (the lookup
      // does not say which token it was; the others are confirmed with their
      // token on next use) and look once more in a new session.
      logInfo(std::string("a token's session was lost during a key lookup: ") + e.what());
      forgetEveryLogin();
      refresh();
      found = lookUp();
    }
  } catch (const HelperUnavailable& e) {
    logWarning(std::string("PKCS#11 helper failed during a key lookup: ") + e.what());
    forgetEveryLogin();
    rescanAfterHelperFailure();
    throw AgentError(ErrorCode::TokenUnavailable,
                     "a PKCS#11 module stopped working while the key was looked up; it is "
                     "started again on next use");
  } catch (const Pkcs11Error& e) {
    if (e.sessionBroken()) {
      logInfo(std::string("token gone during a key lookup: ") + e.what());
      forgetEveryLogin();
      if (e.tokenGone()) {
        throw AgentError(ErrorCode::TokenRemoved, "the token was removed",
                         {{"ckr", pkcs11::ckrName(e.rv())}});
      }
    }
    throw;
  }
  const std::scoped_lock lock(stateMutex_);
  if (resolved_.size() > 256) {
    resolved_.clear();  // bounded: URIs come from clients
  }
  resolved_[uri] = found;
  return found;
}

SecureString TokenService::askPin(Dialogs::Turn& turn, const pkcs11::TokenDescription& token,
                                  const std::string& why) {
  auto pin = turn.askPin(token, why);
  if (!pin) {
    throw AgentError(ErrorCode::PinCancelled, "the PIN dialog was cancelled");
  }
  return std::move(*pin);
}

bool TokenService::stillLoggedIn(const std::shared_ptr<Token>& token) {
  {
    const std::scoped_lock lock(stateMutex_);
    if (!logins_.contains(token.get())) {
      return false;
    }
  }
  return withToken(token, [&] {
    // Ask the token: a card pulled and put back while the agent was not looking
    // (between two scans, or during a suspend) lost its login, and with it every
    // secret the agent derived from it.
    bool loggedIn = false;
    try {
      loggedIn = token->loggedIn();
    } catch (const Pkcs11Error& e) {
      if (!e.tokenGone() && e.rv() != CKR_USER_NOT_LOGGED_IN) {
        throw;
      }
    }
    if (!loggedIn) {
      logInfo("token " + pkcs11::paddedText(token->lastTokenInfo().label) +
              " lost its login (pulled, reset or logged out elsewhere)");
      forgetToken(token.get());
      return false;
    }
    noteUsed(token.get());
    return true;
  });
}

void TokenService::login(const Caller& caller, const std::shared_ptr<Token>& token) {
  if (stillLoggedIn(token)) {
    return;  // we logged in, and the token says nothing has logged us out since
  }
  const auto needsLogin = [&] {
    return withToken(token, [&] {
      const auto description = token->describe();
      if (!description.loginRequired || token->loggedIn()) {
        noteUsed(token.get());
        return std::optional<pkcs11::TokenDescription>{};
      }
      if (description.pinState == pkcs11::PinState::Locked) {
        throw pinError(ErrorCode::PinLocked, "the token's PIN is blocked", description);
      }
      return std::optional{description};
    });
  };
  auto description = needsLogin();
  if (!description) {
    return;
  }
  requireMayWait();  // a PIN dialog, or the PIN pad waiting for the person
  if (description->protectedAuthenticationPath) {
    // PIN pad: the PIN is typed on the reader and never reaches us. It is the
    // person's attention all the same: one at a time, and rate-limited for pages.
    auto turn = dialogs_.take(caller);
    if (!needsLogin()) {
      return;  // another request logged in while we waited
    }
    turn.onPinPad([&] {
      withToken(token, [&] {
        token->login(std::nullopt);
        noteLoggedIn(token.get());
      });
    });
    return;
  }
  auto turn = dialogs_.take(caller);
  description = needsLogin();  // another request may have logged in while we waited
  if (!description) {
    return;
  }
  SecureString pin = askPin(turn, *description, "log in");
  withToken(token, [&] {
    try {
      token->login(pin);
    } catch (const Pkcs11Error& e) {
      // Never retried: each attempt costs the person one of the token's tries.
      const auto after = token->describe();
      if (e.rv() == CKR_PIN_INCORRECT) {
        logInfo("wrong PIN for token " + after.label);
        throw pinError(ErrorCode::PinIncorrect, "the PIN is incorrect", after);
      }
      if (e.rv() == CKR_PIN_LOCKED) {
        throw pinError(ErrorCode::PinLocked, "the token's PIN is blocked", after);
      }
      if (e.rv() == CKR_PIN_LEN_RANGE || e.rv() == CKR_PIN_INVALID) {
        throw pinError(ErrorCode::PinIncorrect, "the PIN has the wrong length or characters",
                       after);
      }
      if (e.rv() == CKR_GENERAL_ERROR || e.rv() == CKR_FUNCTION_FAILED) {
        // Some cards answer a wrong PIN this way (OpenSC maps their status
        // words to a generic error): say what the person can act on.
        logInfo(std::string("login refused without a reason: ") + e.what());
        AgentError error = pinError(ErrorCode::TokenError,
                                    "the card refused the login without saying why; the PIN may "
                                    "have been wrong (the card counts the try)",
                                    after);
        nlohmann::json data = error.data();
        data["ckr"] = pkcs11::ckrName(e.rv());
        throw AgentError(error.code(), error.what(), data);
      }
      throw;
    }
    noteLoggedIn(token.get());
    logInfo("logged in to token " + description->label);
  });
}

void TokenService::lockAll() {
  requireMayWait();
  // The secrets first: a module busy with a slow (or hanging) operation must
  // not delay wiping them.
  forgetEveryLogin();  // SecureBytes wipe themselves
  for (const auto& token : inventory_.tokens()) {
    token->logout();
  }
  logInfo("locked: logged out of every token and wiped cached secrets");
}

void TokenService::noteUsed(const Token* token) {
  const std::scoped_lock lock(stateMutex_);
  const auto now = Clock::now();
  auto [entry, added] = logins_.try_emplace(token, LoginState{now, now});
  entry->second.lastUsed = now;
}

void TokenService::noteLoggedIn(const Token* token) {
  const std::scoped_lock lock(stateMutex_);
  logins_[token] = {Clock::now(), Clock::now()};
  resolved_.clear();  // keys listed before login are now read from the private objects
}

std::optional<SecureString> TokenService::contextPin(const Caller& caller,
                                                     const std::shared_ptr<Token>& token,
                                                     const KeyDescription& key) {
  const auto description = withToken(token, [&] {
    return token->needsContextLogin(key) ? std::optional(token->describe()) : std::nullopt;
  });
  if (!description) {
    return std::nullopt;
  }
  requireMayWait();  // a PIN dialog, or the PIN pad during the operation
  if (description->protectedAuthenticationPath) {
    return std::nullopt;  // the token itself asks on its PIN pad during the operation
  }
  auto turn = dialogs_.take(caller);
  return askPin(turn, *description, "use the key \"" + key.label + "\"");
}

template <typename Op>
auto TokenService::withLogin(const Caller& caller, const std::shared_ptr<Token>& token, Op&& op) {
  // The agent's own record of the login is trusted here, not confirmed with the
  // token first (a round trip per signature): if the token lost it meanwhile,
  // the operation itself says so.
  bool known = false;
  {
    const std::scoped_lock lock(stateMutex_);
    known = logins_.contains(token.get());
  }
  if (known) {
    noteUsed(token.get());
  } else {
    login(caller, token);
  }
  try {
    return op();
  } catch (const Pkcs11Error& e) {
    if (e.rv() != CKR_USER_NOT_LOGGED_IN && !staleSession(e.rv())) {
      throw;
    }
    // withToken has forgotten the stale login; this asks for the PIN once more.
    login(caller, token);
    return op();
  }
}

SecureBytes TokenService::root(const Caller& caller, const std::shared_ptr<Token>& token,
                               const KeyDescription& key) {
  // A cached root is only as good as the login it came from.
  if (stillLoggedIn(token)) {
    const std::scoped_lock lock(stateMutex_);
    if (const auto it = roots_.find(key.uri);
        it != roots_.end() && it->second.first == token.get()) {
      return it->second.second;
    }
  }
  return withLogin(caller, token, [&] { return computeRoot(caller, token, key); });
}

SecureBytes TokenService::computeRoot(const Caller& caller, const std::shared_ptr<Token>& token,
                                      const KeyDescription& key) {
  const auto pin = contextPin(caller, token, key);
  return withToken(token, [&] {
    SecureBytes result;
    switch (key.type) {
      case KeyType::Rsa: {
        // PKCS#1 v1.5 is deterministic; PSS would give a new root every time.
        Bytes signature =
            token->sign(key, pkcs11::SignAlgorithm::RsaPkcs1Sha256, scheme::rootMessage(), pin);
        result.assign(signature.begin(), signature.end());
        OPENSSL_cleanse(signature.data(), signature.size());
        break;
      }
      case KeyType::Ed25519: {
        Bytes signature =
            token->sign(key, pkcs11::SignAlgorithm::Ed25519, scheme::rootMessage(), pin);
        result.assign(signature.begin(), signature.end());
        OPENSSL_cleanse(signature.data(), signature.size());
        break;
      }
      case KeyType::EcP256:
      case KeyType::EcP384:
        result = token->deriveEcdh(key, scheme::ecdhFixedPoint(key.type).uncompressed, pin);
        break;
    }
    SecureBytes rootSecret = scheme::rootFromTokenResult(result);
    const std::scoped_lock lock(stateMutex_);
    roots_[key.uri] = {token.get(), rootSecret};
    return rootSecret;
  });
}

Bytes TokenService::sign(const Caller& caller, const std::shared_ptr<Token>& token,
                         const KeyDescription& key, pkcs11::SignAlgorithm algorithm,
                         ByteView message) {
  return withLogin(caller, token, [&] {
    const auto pin = contextPin(caller, token, key);
    return withToken(token, [&] { return token->sign(key, algorithm, message, pin); });
  });
}

KeyDescription TokenService::generateKey(const Caller& caller, const std::shared_ptr<Token>& token,
                                         KeyType type, const std::string& label) {
  return withLogin(caller, token, [&] {
    auto key = withToken(token, [&] { return token->generateKeyPair(type, label); });
    const std::scoped_lock lock(stateMutex_);
    resolved_.clear();
    return key;
  });
}

void TokenService::useModules(const std::vector<std::string>& modulePaths) {
  inventory_.useModules(modulePaths);
  tick();  // forgets the dropped modules' tokens and applies the new cache limits
}

bool TokenService::holdsLogins() {
  const std::scoped_lock lock(stateMutex_);
  return !logins_.empty() || !roots_.empty();
}

void TokenService::tick() {
  std::vector<const Token*> expired;
  {
    // A malformed policy has no cache limits: nothing stays logged in.
    const auto policy = policy_.tryCurrent();
    const std::scoped_lock lock(stateMutex_);
    const auto now = Clock::now();
    for (auto it = logins_.begin(); it != logins_.end();) {
      const bool idle = !policy || now - it->second.lastUsed >= policy->pinCacheIdle;
      const bool old = !policy || now - it->second.loggedInAt >= policy->pinCacheMax;
      if (!idle && !old) {
        ++it;
        continue;
      }
      const Token* token = it->first;
      std::erase_if(roots_, [token](const auto& entry) { return entry.second.first == token; });
      expired.push_back(token);
      it = logins_.erase(it);
      logInfo(!policy ? "login dropped: the policy is malformed"
              : idle  ? "login expired after idle time"
                      : "login expired after the maximum cache time");
    }
  }
  for (const auto& t : inventory_.tokens()) {
    if (std::find(expired.begin(), expired.end(), t.get()) != expired.end()) {
      t->logout();
    }
  }
  try {
    refresh();
  } catch (const std::exception& e) {
    logWarning(std::string("token scan failed: ") + e.what());
  }
}

bool TokenService::waitForSlotEvent(std::chrono::milliseconds timeout) {
  auto events = inventory_.slotEvents();
  std::erase_if(hungUp_, [&](const auto& gone) {  // forget pipes of helpers replaced since
    return std::find(events.begin(), events.end(), gone) == events.end();
  });
  std::erase_if(events, [&](const auto& pipe) {
    return std::find(hungUp_.begin(), hungUp_.end(), pipe) != hungUp_.end();
  });
  if (events.empty()) {
    std::this_thread::sleep_for(timeout);
    return false;
  }
  std::vector<pollfd> fds;
  fds.reserve(events.size());
  for (const auto& pipe : events) {
    fds.push_back({pipe->fd(), POLLIN, 0});
  }
  if (::poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) <= 0) {
    return false;
  }
  bool scan = false;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if ((fds[i].revents & POLLIN) != 0 && events[i]->drain()) {
      logInfo("a PKCS#11 module reported a slot event: scanning now");
      scan = true;
    }
    if ((fds[i].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      hungUp_.push_back(events[i]);  // the helper exited: the scan starts a new one
      scan = true;
    }
  }
  return scan;
}

}  // namespace p2pcp::agent
