// hello, status, tokens, keys, login, lock, key generation, consents.
#include <unistd.h>

#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/json_codec.hpp"
#include "p2pcp/agent/params.hpp"
#include "p2pcp/agent/version.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/common/framing.hpp"
#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::agent {

using nlohmann::json;

json handleHello(TokenService& /*service*/, const Caller& /*caller*/, const json& params) {
  const Params p(params, {"client", "protocol"});
  if (p.has("protocol") && p.u64("protocol") != kProtocolVersion) {
    throw AgentError(ErrorCode::Unsupported,
                     "this agent speaks protocol version " + std::to_string(kProtocolVersion),
                     {{"protocol", kProtocolVersion}});
  }
  return {{"agent", "p2pcp-agent"},
          {"version", kAgentVersion},
          {"protocol", kProtocolVersion},
          {"methods", Dispatcher::methodNames()},
          {"notifications", {"tokenInserted", "tokenRemoved"}},
          {"keyTypes", {"rsa", "ec-p256", "ec-p384", "ed25519"}},
          {"maxRequestBytes", kMaxAgentMessage}};
}

json handleStatus(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {});
  json status = {{"agent", "p2pcp-agent"},
                 {"version", kAgentVersion},
                 {"protocol", kProtocolVersion},
                 {"tokens", service.listTokens()},
                 {"policy",
                  {{"rawSigning", service.policy().rawSigning},
                   {"pinCacheSeconds", service.policy().pinCacheIdle.count()},
                   {"pinCacheMaxSeconds", service.policy().pinCacheMax.count()}}}};
  if (!caller.isPage()) {
    // Details a web page has no business knowing.
    status["pid"] = ::getpid();
    status["modules"] = service.modules();
    status["consents"] = service.consents().list().size();
  }
  return status;
}

json handleListTokens(TokenService& service, const Caller& /*caller*/, const json& params) {
  const Params p(params, {});
  return service.listTokens();
}

json handleListKeys(TokenService& service, const Caller& /*caller*/, const json& params) {
  const Params p(params, {"token"});
  return service.listKeys(p.optionalString("token"));
}

json handleGetPublicKey(TokenService& service, const Caller& /*caller*/, const json& params) {
  const Params p(params, {"key"});
  const auto [token, key] = service.resolveKey(p.optionalString("key"));
  return {{"uri", key.uri},
          {"type", pkcs11::keyTypeName(key.type)},
          {"spki", toBase64(key.spki)},
          {"fingerprint", toHex(scheme::fingerprint(key.spki))}};
}

json handleLogin(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"token", "key"});
  std::shared_ptr<pkcs11::Token> token;
  if (p.has("key")) {
    token = service.resolveKey(p.optionalString("key")).first;
  } else {
    token = service.findToken(p.optionalString("token"));
  }
  service.login(caller, token);
  return {{"loggedIn", true}, {"token", service.describe(token).uri}};
}

json handleLock(TokenService& service, const Caller& /*caller*/, const json& params) {
  const Params p(params, {});
  service.lockAll();
  return {{"locked", true}};
}

json handleGenerateKey(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"token", "type", "label"});
  if (!service.policy().keyGeneration) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, "key generation is turned off by policy");
  }
  const auto type = pkcs11::keyTypeFromName(p.string("type", 16));
  if (!type) {
    badRequest("type must be one of rsa, ec-p256, ec-p384, ed25519");
  }
  const auto token = service.findToken(p.optionalString("token"));
  return toJson(service.generateKey(caller, token, *type, p.string("label", 128)));
}

json handleListConsents(TokenService& service, const Caller& /*caller*/, const json& params) {
  const Params p(params, {});
  json out = json::array();
  for (const auto& consent : service.consents().list()) {
    out.push_back({{"origin", consent.origin}, {"grantedAt", consent.grantedAt}});
  }
  return out;
}

json handleRevokeConsent(TokenService& service, const Caller& /*caller*/, const json& params) {
  const Params p(params, {"origin"});
  return {{"revoked", service.consents().revoke(p.string("origin", 512))}};
}

}  // namespace p2pcp::agent
