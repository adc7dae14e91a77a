// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/access.hpp"

#include <array>

namespace p2pcp::agent {

namespace {

// Local programs are the person's own account (the trust boundary, as with
// ssh-agent). The extension's pages get what its popup shows and does. Web
// pages get the p2pcp operations only, scoped by their grade.
constexpr std::array kMethods{
    MethodAccess{"hello", true, true, PageRule::Open},
    MethodAccess{"subscribe", true, true, PageRule::Open},
    MethodAccess{"requestAccess", false, false, PageRule::Open},
    MethodAccess{"pair", false, false, PageRule::FrontDoor},
    MethodAccess{"getPublicKey", true, true, PageRule::Site},
    MethodAccess{"deriveStorageKey", true, false, PageRule::Site},
    MethodAccess{"signBlock", true, false, PageRule::Site},
    MethodAccess{"signLogin", true, false, PageRule::Site},
    MethodAccess{"seal", true, false, PageRule::Site},
    MethodAccess{"open", true, false, PageRule::Site},
    MethodAccess{"deriveStorageKeys", true, false, PageRule::Site},
    MethodAccess{"signBlocks", true, false, PageRule::Site},
    MethodAccess{"sealMany", true, false, PageRule::Site},
    MethodAccess{"openMany", true, false, PageRule::Site},
    MethodAccess{"sign", true, false, PageRule::Full},
    MethodAccess{"status", true, true, PageRule::Never},
    MethodAccess{"listTokens", true, true, PageRule::Never},
    MethodAccess{"listKeys", true, true, PageRule::Site},  // pages: no URIs below full access
    MethodAccess{"setDefaultKey", true, true, PageRule::Never},
    MethodAccess{"login", true, false, PageRule::Never},
    MethodAccess{"lock", true, true, PageRule::Never},
    MethodAccess{"generateKey", true, false, PageRule::Never},
    MethodAccess{"listConsents", true, true, PageRule::Never},
    MethodAccess{"grantConsent", true, false, PageRule::Never},
    MethodAccess{"revokeConsent", true, true, PageRule::Never},
    MethodAccess{"listPairings", true, true, PageRule::Never},
    MethodAccess{"revokePairing", true, true, PageRule::Never},
};

}  // namespace

const MethodAccess* findMethodAccess(std::string_view name) noexcept {
  for (const auto& method : kMethods) {
    if (method.name == name) {
      return &method;
    }
  }
  return nullptr;
}

std::span<const MethodAccess> methodAccessTable() noexcept {
  return kMethods;
}

bool mayEverCall(CallerKind kind, const MethodAccess& method, bool viaWebSocket) noexcept {
  switch (kind) {
    case CallerKind::Local:
      return method.local;
    case CallerKind::Extension:
      return method.extension;
    case CallerKind::Page:
      return method.page == PageRule::FrontDoor ? viaWebSocket : method.page != PageRule::Never;
  }
  return false;
}

std::vector<std::string> methodsFor(CallerKind kind) {
  std::vector<std::string> names;
  for (const auto& method : kMethods) {
    if (mayEverCall(kind, method)) {
      names.emplace_back(method.name);
    }
  }
  return names;
}

std::vector<std::string> methodsForPage(Grade grade, bool rawSigning, bool viaWebSocket) {
  std::vector<std::string> names;
  for (const auto& method : kMethods) {
    bool now = false;
    switch (method.page) {
      case PageRule::Open:
        now = true;
        break;
      case PageRule::Site:
        now = grade != Grade::None;
        break;
      case PageRule::Full:
        // Raw signing is the one page method the policy can turn off.
        now = grade == Grade::Full && (method.name != "sign" || rawSigning);
        break;
      case PageRule::FrontDoor:
        now = viaWebSocket;
        break;
      case PageRule::Never:
        break;
    }
    if (now) {
      names.emplace_back(method.name);
    }
  }
  return names;
}

std::string_view gradeName(Grade grade) noexcept {
  switch (grade) {
    case Grade::Site:
      return "site";
    case Grade::Full:
      return "full";
    case Grade::None:
      break;
  }
  return "none";
}

}  // namespace p2pcp::agent
