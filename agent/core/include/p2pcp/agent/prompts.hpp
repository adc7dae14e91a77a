#pragma once
// The words the person sees in pinentry: which token, which site, and how
// many PIN tries are left, before they type anything.

#include <optional>
#include <string>

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
// True when the person allows caller.origin to use the p2pcp identity.
bool askConsent(const Config& config, const Caller& caller);

// The description texts, separated out so tests can check them.
std::string pinDescription(const Caller& caller, const pkcs11::TokenDescription& token,
                           const std::string& purpose);
std::optional<std::string> pinWarning(pkcs11::PinState state);

}  // namespace p2pcp::agent
