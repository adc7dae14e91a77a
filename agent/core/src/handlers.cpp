// SPDX-License-Identifier: Apache-2.0
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
    // Waits for the person (a pinentry dialog): never on the I/O thread.
    Handler{"pair", Duration::Long, &handlePair},
    Handler{"status", Duration::Long, &handleStatus},
    Handler{"listTokens", Duration::Long, &handleListTokens},
    Handler{"listKeys", Duration::Long, &handleListKeys},
    Handler{"setDefaultKey", Duration::Long, &handleSetDefaultKey},
    Handler{"getPublicKey", Duration::Short, &handleGetPublicKey},
    Handler{"login", Duration::Long, &handleLogin},
    Handler{"lock", Duration::Long, &handleLock},
    Handler{"deriveStorageKey", Duration::Short, &handleDeriveStorageKey},
    Handler{"signBlock", Duration::Long, &handleSignBlock},
    Handler{"signLogin", Duration::Long, &handleSignLogin},
    Handler{"seal", Duration::Short, &handleSeal},
    Handler{"open", Duration::Short, &handleOpen},
    Handler{"sign", Duration::Long, &handleSign},
    // Bulk forms: a 2048-item batch is milliseconds of work, never for the I/O thread.
    Handler{"deriveStorageKeys", Duration::Long, &handleDeriveStorageKeys},
    Handler{"signBlocks", Duration::Long, &handleSignBlocks},
    Handler{"sealMany", Duration::Long, &handleSealMany},
    Handler{"openMany", Duration::Long, &handleOpenMany},
    Handler{"generateKey", Duration::Long, &handleGenerateKey},
    Handler{"listConsents", Duration::Short, &handleListConsents},
    Handler{"grantConsent", Duration::Short, &handleGrantConsent},
    Handler{"revokeConsent", Duration::Short, &handleRevokeConsent},
    Handler{"listPairings", Duration::Short, &handleListPairings},
    Handler{"revokePairing", Duration::Short, &handleRevokePairing},
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
