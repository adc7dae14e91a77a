// SPDX-License-Identifier: Apache-2.0
#pragma once
// The dispatcher the request fuzz targets drive: an agent with no token, whose
// prompts fail fast (no pinentry), with its consent store in a fresh directory.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/consent_store.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/pairing_store.hpp"
#include "p2pcp/agent/pairings.hpp"
#include "p2pcp/agent/token_service.hpp"

namespace p2pcp::fuzz {

// The origin the front-door targets speak as; paired in fuzzDispatcher().
inline constexpr std::string_view kPairedOrigin = "https://app.example";

inline agent::Dispatcher& fuzzDispatcher() {
  using namespace p2pcp::agent;
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "p2pcp-fuzz.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::abort();
    }
    return std::filesystem::path(pattern);
  }();
  static ConsentStore consents(dir / "consents.json");
  static Config config = [] {
    Config c;
    c.pinentry = "/nonexistent/pinentry";  // prompts fail fast with PINENTRY_FAILED
    return c;
  }();
  static const PolicyHolder policy(Policy{}, "/nonexistent/policy.json");
  static Dialogs dialogs(config);
  static AccessControl access(policy, consents, dialogs);
  static TokenService service(config, policy, {}, "/nonexistent", dialogs);
  static PairingStore pairingStore(dir / "pairings.json");
  // The front-door targets speak as this origin: paired, so their requests go
  // past the pairing gate into the handlers.
  static const bool seeded = [] {
    pairingStore.record(std::string(kPairedOrigin), PairingState::Paired);
    return true;
  }();
  (void)seeded;
  static Pairings pairings(pairingStore, dialogs, access);
  static Dispatcher instance(service, access, pairings);
  setLogLevel(LogLevel::Error);
  return instance;
}

// Every reply is a JSON-RPC response: a result or an error, never both.
inline void requireWellFormedReply(const nlohmann::json& reply) {
  if (!reply.is_object() || reply.value("jsonrpc", "") != "2.0" ||
      (reply.contains("result") == reply.contains("error"))) {
    std::abort();
  }
  (void)reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace p2pcp::fuzz
