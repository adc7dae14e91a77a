// SPDX-License-Identifier: Apache-2.0
#pragma once
// The protocol's typed errors. Inside the agent, failures are exceptions of
// many kinds (Pkcs11Error, LayerError, SchemeError, PinentryError); they are
// turned into an AgentError exactly once, at the request boundary, so the
// client always sees a stable string code and a short message.

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace p2pcp::agent {

enum class ErrorCode {
  ParseError,           // not JSON
  BadRequest,           // JSON, but not a valid request, or bad parameters
  MethodNotFound,       // unknown method
  MessageTooLarge,      // over the size limit
  PinIncorrect,         // the token refused the PIN (data.pinState tells what is left)
  PinLocked,            // the PIN is blocked; only the SO/PUK can unblock it
  PinCancelled,         // the person closed the PIN dialog
  TokenRemoved,         // the token went away during or before the operation
  TokenNotFound,        // no token matches
  KeyNotFound,          // no key matches
  KeyAmbiguous,         // several keys match; name one by URI
  ConsentDenied,        // the person did not allow this origin
  NotAllowedByPolicy,   // the administrator's policy forbids it
  Unsupported,          // the key or token cannot do this
  PinentryFailed,       // no pinentry could ask the person
  OpenFailed,           // a sealed box did not authenticate
  TokenError,           // another PKCS#11 failure (data.ckr names it)
  AgentUnavailable,     // the native host could not reach or start the agent
  ExtensionNotAllowed,  // the native host refused the calling extension
  RateLimited,          // too many dialogs for this site; data.retryAfter says when to try again
  TokenUnavailable,     // the token's PKCS#11 module crashed or hung; started again on next use
  NotPaired,            // a front-door page (WebSocket) whose origin is not paired: call pair first
  Internal,             // a bug; details are in the agent's log
};

std::string_view errorCodeName(ErrorCode code) noexcept;
// JSON-RPC error.code: the standard codes for parse/request/method errors,
// -32000 and below for the agent's own.
int errorCodeNumber(ErrorCode code) noexcept;

class AgentError : public std::runtime_error {
 public:
  AgentError(ErrorCode code, const std::string& message,
             nlohmann::json data = nlohmann::json::object())
      : std::runtime_error(message), code_(code), data_(std::move(data)) {}
  [[nodiscard]] ErrorCode code() const noexcept { return code_; }
  [[nodiscard]] const nlohmann::json& data() const noexcept { return data_; }

 private:
  ErrorCode code_;
  nlohmann::json data_;
};

// Shorthand for the most common error.
[[noreturn]] inline void badRequest(const std::string& message) {
  throw AgentError(ErrorCode::BadRequest, message);
}

// The JSON-RPC error object {code, message, data: {error: NAME, ...}}.
nlohmann::json errorObject(const AgentError& error);

}  // namespace p2pcp::agent
