#include "p2pcp/agent/handlers.hpp"

#include <array>

namespace p2pcp::agent {

namespace {
constexpr std::array kHandlers{
    Handler{"hello", Access::Anyone, &handleHello},
    Handler{"status", Access::PageWithConsent, &handleStatus},
    Handler{"listTokens", Access::PageWithConsent, &handleListTokens},
    Handler{"listKeys", Access::PageWithConsent, &handleListKeys},
    Handler{"getPublicKey", Access::PageWithConsent, &handleGetPublicKey},
    Handler{"login", Access::PageWithConsent, &handleLogin},
    Handler{"lock", Access::PageWithConsent, &handleLock},
    Handler{"deriveStorageKey", Access::PageWithConsent, &handleDeriveStorageKey},
    Handler{"signBlock", Access::PageWithConsent, &handleSignBlock},
    Handler{"signLogin", Access::PageWithConsent, &handleSignLogin},
    Handler{"seal", Access::PageWithConsent, &handleSeal},
    Handler{"open", Access::PageWithConsent, &handleOpen},
    Handler{"sign", Access::PageWithConsent, &handleSign},
    Handler{"generateKey", Access::LocalOnly, &handleGenerateKey},
    Handler{"listConsents", Access::LocalOnly, &handleListConsents},
    Handler{"revokeConsent", Access::LocalOnly, &handleRevokeConsent},
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

const std::vector<std::string>& handlerNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& handler : kHandlers) {
      out.emplace_back(handler.name);
    }
    out.emplace_back("subscribe");  // handled by the connection itself
    return out;
  }();
  return names;
}

}  // namespace p2pcp::agent
