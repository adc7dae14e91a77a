#include "p2pcp/agent/handlers.hpp"

#include <array>

namespace p2pcp::agent {

namespace {
// Every method of the caller table (access.cpp) has exactly one entry here;
// a unit test holds the two lists together.
constexpr std::array kHandlers{
    Handler{"hello", Duration::Short, &handleHello},
    Handler{"subscribe", Duration::Short, &handleSubscribe},
    Handler{"requestAccess", Duration::Short, &handleRequestAccess},
    Handler{"status", Duration::Short, &handleStatus},
    Handler{"listTokens", Duration::Short, &handleListTokens},
    Handler{"listKeys", Duration::Short, &handleListKeys},
    Handler{"getPublicKey", Duration::Short, &handleGetPublicKey},
    Handler{"login", Duration::Short, &handleLogin},
    Handler{"lock", Duration::Short, &handleLock},
    Handler{"deriveStorageKey", Duration::Short, &handleDeriveStorageKey},
    Handler{"signBlock", Duration::Short, &handleSignBlock},
    Handler{"signLogin", Duration::Short, &handleSignLogin},
    Handler{"seal", Duration::Short, &handleSeal},
    Handler{"open", Duration::Short, &handleOpen},
    Handler{"sign", Duration::Short, &handleSign},
    Handler{"generateKey", Duration::Long, &handleGenerateKey},
    Handler{"listConsents", Duration::Short, &handleListConsents},
    Handler{"grantConsent", Duration::Short, &handleGrantConsent},
    Handler{"revokeConsent", Duration::Short, &handleRevokeConsent},
};
}  // namespace

const Handler* findHandler(std::string_view name) noexcept {
  for (const auto& handler : kHandlers) {
    if (handler.name == name) {
      return &handler;
    }
  }
  return nullptr;
}

}  // namespace p2pcp::agent
