#include "p2pcp/agent/handlers.hpp"

#include <array>

namespace p2pcp::agent {

namespace {
constexpr std::array kHandlers{
    Handler{"hello", Access::Anyone, Duration::Short, &handleHello},
    Handler{"status", Access::PageWithConsent, Duration::Short, &handleStatus},
    Handler{"listTokens", Access::PageWithConsent, Duration::Short, &handleListTokens},
    Handler{"listKeys", Access::PageWithConsent, Duration::Short, &handleListKeys},
    Handler{"getPublicKey", Access::PageWithConsent, Duration::Short, &handleGetPublicKey},
    Handler{"login", Access::PageWithConsent, Duration::Short, &handleLogin},
    Handler{"lock", Access::PageWithConsent, Duration::Short, &handleLock},
    Handler{"deriveStorageKey", Access::PageWithConsent, Duration::Short, &handleDeriveStorageKey},
    Handler{"signBlock", Access::PageWithConsent, Duration::Short, &handleSignBlock},
    Handler{"signLogin", Access::PageWithConsent, Duration::Short, &handleSignLogin},
    Handler{"seal", Access::PageWithConsent, Duration::Short, &handleSeal},
    Handler{"open", Access::PageWithConsent, Duration::Short, &handleOpen},
    Handler{"sign", Access::PageWithConsent, Duration::Short, &handleSign},
    Handler{"generateKey", Access::LocalOnly, Duration::Long, &handleGenerateKey},
    Handler{"listConsents", Access::LocalOnly, Duration::Short, &handleListConsents},
    Handler{"revokeConsent", Access::LocalOnly, Duration::Short, &handleRevokeConsent},
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
