#include "p2pcp/agent/prompts.hpp"

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

bool askConsent(const Config& config, const Caller& caller) {
  pinentry::ConfirmRequest request;
  request.description = "The site " + caller.describe() +
                        " asks to use your p2pcp identity (your public key, storage keys and "
                        "signatures made with your token).\n\nAllow this site?";
  request.okLabel = "Allow";
  request.cancelLabel = "Deny";
  return pinentry::confirm(optionsFor(config, caller), request);
}

}  // namespace p2pcp::agent
