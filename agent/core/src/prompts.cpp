// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/prompts.hpp"

#include "p2pcp/agent/origin.hpp"
#include "p2pcp/pinentry/pinentry.hpp"

namespace p2pcp::agent {

namespace {

pinentry::PinentryOptions optionsFor(const Config& config, const Caller& caller) {
  pinentry::PinentryOptions options;
  options.program = config.pinentry;
  options.ttyName = caller.ttyName;
  options.display = caller.display;
  options.title = "p2pcp key agent";
  return options;
}

}  // namespace

std::optional<std::string> pinWarning(pkcs11::PinState state) {
  switch (state) {
    case pkcs11::PinState::CountLow:
      return "A wrong PIN has been entered before: few tries are left before the PIN is blocked.";
    case pkcs11::PinState::FinalTry:
      return "FINAL TRY: one more wrong PIN blocks the token.";
    default:
      return std::nullopt;
  }
}

std::string pinDescription(const Caller& caller, const pkcs11::TokenDescription& token,
                           const std::string& purpose) {
  std::string text = "Enter the PIN of the token \"" + token.label + "\" to " + purpose + ".";
  // Named in every prompt so the person knows which site is asking.
  text += "\nRequested by: " + caller.describe();
  return text;
}

std::optional<SecureString> promptPin(const Config& config, const Caller& caller,
                                      const pkcs11::TokenDescription& token,
                                      const std::string& purpose) {
  pinentry::PinRequest request;
  request.description = pinDescription(caller, token, purpose);
  request.prompt = "PIN:";
  request.error = pinWarning(token.pinState);
  return pinentry::askPin(optionsFor(config, caller), request);
}

std::string accessDescription(const std::string& origin, Grade grade) {
  std::string text;
  if (grade == Grade::Full) {
    text = "The site " + origin +
           " asks for FULL ACCESS to your p2pcp account.\n\n"
           "With full access it can read and change ALL your private p2pcp data, open every "
           "sealed block of your account, and sign public blocks (your profile too) and "
           "private block writes as you.\n\n"
           "Allow this only for the p2pcp app you use for your account.";
  } else {
    text = "The site " + origin +
           " asks to use your p2pcp identity.\n\n"
           "It may see your public key, sign logins to index servers for itself, and keep "
           "private data and sign blocks in a space of its own. It cannot see or change your "
           "other p2pcp data or other sites' spaces.\n\nAllow this site?";
  }
  if (!isPotentiallyTrustworthy(origin)) {
    text += "\n\nWARNING: this site does not use https. Anyone on your network could pose as it.";
  }
  return text;
}

bool askAccessGrade(const Config& config, const Caller& caller, Grade grade) {
  pinentry::ConfirmRequest request;
  request.description = accessDescription(caller.describe(), grade);
  request.okLabel = grade == Grade::Full ? "Allow full access" : "Allow";
  request.cancelLabel = "Deny";
  return pinentry::confirm(optionsFor(config, caller), request);
}

std::string pairingDescription(const std::string& origin, const std::string& code) {
  std::string text = "The page " + origin +
                     " asks to use your p2pcp key agent through its WebSocket front door. Pair "
                     "only if that page shows the code " +
                     code +
                     ".\n\nPairing lets the page talk to the agent; it still asks before it may "
                     "use your p2pcp identity. If you did not just open this page, or it shows "
                     "another code, refuse.";
  if (!isPotentiallyTrustworthy(origin)) {
    text += "\n\nWARNING: this site does not use https. Anyone on your network could pose as it.";
  }
  return text;
}

bool confirmPairing(const Config& config, const Caller& caller, const std::string& code) {
  pinentry::PinentryOptions options = optionsFor(config, caller);
  options.title = "Pair a web page with p2pcp";
  pinentry::ConfirmRequest request;
  request.description = pairingDescription(caller.describe(), code);
  request.okLabel = "Pair";
  request.cancelLabel = "Refuse";
  return pinentry::confirm(options, request);
}

}  // namespace p2pcp::agent
