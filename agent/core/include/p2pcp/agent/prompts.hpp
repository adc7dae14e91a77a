// SPDX-License-Identifier: Apache-2.0
#pragma once
// The words the person sees in pinentry: which token, which site, and how
// many PIN tries are left, before they type anything.

#include <optional>
#include <string>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/pkcs11/types.hpp"

namespace p2pcp::agent {

// nullopt when the person cancels. Throws AgentError(PinentryFailed) when no
// pinentry can be run.
std::optional<SecureString> promptPin(const Config& config, const Caller& caller,
                                      const pkcs11::TokenDescription& token,
                                      const std::string& purpose);
// True when the person grants caller.origin this grade (site or full access).
bool askAccessGrade(const Config& config, const Caller& caller, Grade grade);
// True when the person pairs caller.origin with the WebSocket front door after
// comparing `code` with the page's.
bool confirmPairing(const Config& config, const Caller& caller, const std::string& code);

// The description texts, separated out so tests can check them.
std::string pinDescription(const Caller& caller, const pkcs11::TokenDescription& token,
                           const std::string& purpose);
std::optional<std::string> pinWarning(pkcs11::PinState state);
// What the access dialog says: exactly what the grade lets the site do.
std::string accessDescription(const std::string& origin, Grade grade);
std::string pairingDescription(const std::string& origin, const std::string& code);

}  // namespace p2pcp::agent
