// SPDX-License-Identifier: Apache-2.0
// The one place where lower layers' exceptions become protocol errors.
#include <new>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/token_service.hpp"
#include "p2pcp/common/framing.hpp"
#include "p2pcp/common/ossl.hpp"
#include "p2pcp/pinentry/pinentry.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::agent {

namespace {

AgentError fromPkcs11(const pkcs11::Pkcs11Error& e) {
  const nlohmann::json data = {{"ckr", pkcs11::ckrName(e.rv())}, {"function", e.function()}};
  switch (e.rv()) {
    case CKR_PIN_INCORRECT:
      return {ErrorCode::PinIncorrect, "the PIN is incorrect", data};
    case CKR_PIN_LOCKED:
      return {ErrorCode::PinLocked, "the token's PIN is blocked", data};
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_FUNCTION_NOT_SUPPORTED:
      return {ErrorCode::Unsupported, "the token cannot do this with this key", data};
    case CKR_TOKEN_WRITE_PROTECTED:
      return {ErrorCode::Unsupported, "the token is write-protected", data};
    case CKR_DEVICE_MEMORY:
      return {ErrorCode::TokenError, "the token is full", data};
    default:
      if (e.tokenGone()) {
        return {ErrorCode::TokenRemoved, "the token was removed", data};
      }
      logWarning(std::string("PKCS#11 error: ") + e.what());
      return {ErrorCode::TokenError, std::string("the token reported ") + pkcs11::ckrName(e.rv()),
              data};
  }
}

AgentError fromLayer(const pkcs11::LayerError& e) {
  using Kind = pkcs11::LayerError::Kind;
  switch (e.kind()) {
    case Kind::NoSuchKey:
      return {ErrorCode::KeyNotFound, e.what()};
    case Kind::AmbiguousKey:
      return {ErrorCode::KeyAmbiguous, e.what()};
    case Kind::NoSuchToken:
      return {ErrorCode::TokenNotFound, e.what()};
    case Kind::BadUri:
    case Kind::BadInput:
      return {ErrorCode::BadRequest, e.what()};
    case Kind::Unsupported:
      return {ErrorCode::Unsupported, e.what()};
    case Kind::ModuleLoad:
      return {ErrorCode::TokenError, e.what()};
  }
  return {ErrorCode::Internal, e.what()};
}

}  // namespace

void rethrowAsAgentError() {
  try {
    throw;
  } catch (const AgentError&) {
    throw;
  } catch (const pkcs11::Pkcs11Error& e) {
    throw fromPkcs11(e);
  } catch (const pkcs11::LayerError& e) {
    throw fromLayer(e);
  } catch (const scheme::SchemeError& e) {
    if (e.kind() == scheme::SchemeError::Kind::OpenFailed) {
      throw AgentError(ErrorCode::OpenFailed,
                       "the sealed data does not open with this key and uri");
    }
    throw AgentError(ErrorCode::BadRequest, e.what());
  } catch (const pinentry::PinentryError& e) {
    logWarning(std::string("pinentry: ") + e.what());
    throw AgentError(ErrorCode::PinentryFailed, std::string("cannot ask the person: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw AgentError(ErrorCode::Internal, "out of memory");
  } catch (const std::exception& e) {
    logError(std::string("unexpected error: ") + e.what());
    throw AgentError(ErrorCode::Internal, "internal error");
  } catch (...) {
    logError("unexpected non-standard exception");
    throw AgentError(ErrorCode::Internal, "internal error");
  }
}

}  // namespace p2pcp::agent
