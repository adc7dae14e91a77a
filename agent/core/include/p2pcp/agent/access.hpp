// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one table of who may call which method (docs/protocol.md, "Who may
// call what"). The agent enforces it on every request; the native host checks
// it before relaying, so a browser request for a method no browser caller may
// use never reaches the agent at all.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "p2pcp/agent/caller.hpp"

namespace p2pcp::agent {

// What a web page's origin holds from the person or the administrator.
enum class Grade {
  None,  // nothing yet: only the methods open to every page
  Site,  // site access: the identity, logins for itself, a private space of its own
  Full,  // full access: the person's whole p2pcp space (their p2pcp app)
};

// What a web page needs before it may call a method.
enum class PageRule {
  Never,      // not for web pages
  Open,       // any page, no consent (reveals nothing about the person or the token)
  Site,       // site access or full access; the first call asks the person for site access
  Full,       // full access only; never asked implicitly (see requestAccess)
  FrontDoor,  // pages of the WebSocket front door only (pair), any grade, no consent
};

struct MethodAccess {
  std::string_view name;
  bool local;      // local programs
  bool extension;  // the extension's own pages
  PageRule page;   // web pages
};

// nullptr for a method that does not exist.
const MethodAccess* findMethodAccess(std::string_view name) noexcept;
std::span<const MethodAccess> methodAccessTable() noexcept;

// Whether a caller of this kind may call the method at all (for a page: with
// the best grade it could hold; `viaWebSocket`: a page of the front door).
bool mayEverCall(CallerKind kind, const MethodAccess& method, bool viaWebSocket = false) noexcept;
// The methods a caller of this kind may ever call, in table order (hello's list).
std::vector<std::string> methodsFor(CallerKind kind);
// What a web page holding `grade` may call now, in table order (hello's list
// for a page): the open methods, the p2pcp operations with site access or
// more, full-access methods with full access (`sign` only while the policy
// allows raw signing), and pair for a page of the WebSocket front door.
std::vector<std::string> methodsForPage(Grade grade, bool rawSigning, bool viaWebSocket = false);

std::string_view gradeName(Grade grade) noexcept;  // "none", "site", "full"

}  // namespace p2pcp::agent
