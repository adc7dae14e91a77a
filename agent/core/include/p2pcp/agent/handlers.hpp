#pragma once
// The protocol's methods (docs/protocol.md). Each handler checks its params,
// does one job through the TokenService, and returns the result object.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/token_service.hpp"

namespace p2pcp::agent {

enum class Access {
  Anyone,           // hello: no consent needed
  PageWithConsent,  // web pages after the person allowed their origin; local programs always
  LocalOnly,        // the person's own tools (CLI, extension popup); never a page
};

// How long a method may hold the token. The agent serves short ones on its I/O
// thread; long ones (key generation: seconds on a card) go to a worker so they do
// not hold up every other client.
enum class Duration { Short, Long };

struct Handler {
  std::string_view name;
  Access access;
  Duration duration;
  nlohmann::json (*run)(TokenService& service, const Caller& caller, const nlohmann::json& params);
};

const Handler* findHandler(std::string_view name) noexcept;
const std::vector<std::string>& handlerNames();

// Handler functions, grouped by file.
nlohmann::json handleHello(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleStatus(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleListTokens(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleListKeys(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleGetPublicKey(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleLogin(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleLock(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleGenerateKey(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleListConsents(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleRevokeConsent(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleDeriveStorageKey(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleSignBlock(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleSignLogin(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleSeal(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleOpen(TokenService&, const Caller&, const nlohmann::json&);
nlohmann::json handleSign(TokenService&, const Caller&, const nlohmann::json&);

}  // namespace p2pcp::agent
