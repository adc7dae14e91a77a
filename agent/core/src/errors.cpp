// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/errors.hpp"

namespace p2pcp::agent {

std::string_view errorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ParseError:
      return "PARSE_ERROR";
    case ErrorCode::BadRequest:
      return "BAD_REQUEST";
    case ErrorCode::MethodNotFound:
      return "METHOD_NOT_FOUND";
    case ErrorCode::MessageTooLarge:
      return "MESSAGE_TOO_LARGE";
    case ErrorCode::PinIncorrect:
      return "PIN_INCORRECT";
    case ErrorCode::PinLocked:
      return "PIN_LOCKED";
    case ErrorCode::PinCancelled:
      return "PIN_CANCELLED";
    case ErrorCode::TokenRemoved:
      return "TOKEN_REMOVED";
    case ErrorCode::TokenNotFound:
      return "TOKEN_NOT_FOUND";
    case ErrorCode::KeyNotFound:
      return "KEY_NOT_FOUND";
    case ErrorCode::KeyAmbiguous:
      return "KEY_AMBIGUOUS";
    case ErrorCode::ConsentDenied:
      return "CONSENT_DENIED";
    case ErrorCode::NotAllowedByPolicy:
      return "NOT_ALLOWED_BY_POLICY";
    case ErrorCode::Unsupported:
      return "UNSUPPORTED";
    case ErrorCode::PinentryFailed:
      return "PINENTRY_FAILED";
    case ErrorCode::OpenFailed:
      return "OPEN_FAILED";
    case ErrorCode::TokenError:
      return "TOKEN_ERROR";
    case ErrorCode::AgentUnavailable:
      return "AGENT_UNAVAILABLE";
    case ErrorCode::ExtensionNotAllowed:
      return "EXTENSION_NOT_ALLOWED";
    case ErrorCode::RateLimited:
      return "RATE_LIMITED";
    case ErrorCode::TokenUnavailable:
      return "TOKEN_UNAVAILABLE";
    case ErrorCode::NotPaired:
      return "NOT_PAIRED";
    case ErrorCode::Internal:
      return "INTERNAL_ERROR";
  }
  return "INTERNAL_ERROR";
}

int errorCodeNumber(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ParseError:
      return -32700;
    case ErrorCode::BadRequest:
      return -32600;
    case ErrorCode::MethodNotFound:
      return -32601;
    case ErrorCode::Internal:
      return -32603;
    default:
      // The agent's own codes count down from -32001 in declaration order.
      return -32000 - static_cast<int>(code);
  }
}

nlohmann::json errorObject(const AgentError& error) {
  nlohmann::json data = error.data().is_object() ? error.data() : nlohmann::json::object();
  data["error"] = errorCodeName(error.code());
  return {{"code", errorCodeNumber(error.code())}, {"message", error.what()}, {"data", data}};
}

}  // namespace p2pcp::agent
