// SPDX-License-Identifier: Apache-2.0
// The p2pcp operations, one item per call: storage keys, block and login
// signatures, seal/open, raw sign. The work of one item is in scheme_ops.cpp,
// shared with the bulk forms (handlers_bulk.cpp).
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/origin.hpp"
#include "p2pcp/agent/params.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/scheme/scheme.hpp"
#include "scheme_ops.hpp"

namespace p2pcp::agent {

using nlohmann::json;

json handleDeriveStorageKey(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "kind", "space"});
  const std::string uri = p.string("uri", kMaxUri);
  const bool privateKind = privateKindParam(p);
  SchemeCall call(context, spaceFor(context, p), p.optionalString("key"));
  json result = {{"storageKey", storageKeyHex(call, privateKind, uri)},
                 {"kind", privateKind ? "private" : "public"}};
  if (privateKind) {
    result["space"] = call.space().name();
  }
  return result;
}

json handleSignBlock(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "kind", "storageKey", "private", "seq", "payload",
                          "payloadSha256", "space", "signatureFormat"});
  // Every parameter is checked before the token is touched.
  const Space space = spaceFor(context, p);
  const BlockRequest block = readBlockRequest(p, space);
  const SignatureFormat format = signatureFormatParam(p);
  SchemeCall call(context, space, p.optionalString("key"));
  json result = signBlockRequest(call, block, format);
  result["space"] = call.space().name();
  return result;
}

json handleSignLogin(RequestContext& context, const json& params) {
  const Params p(params, {"key", "indexServer", "nonce", "timestamp", "origin", "signatureFormat"});
  std::string origin;
  if (context.caller.isPage()) {
    // The browser's word for who is asking; a page cannot name another site,
    // whatever its grade.
    if (p.has("origin") && p.string("origin", 512) != *context.caller.origin) {
      throw AgentError(ErrorCode::NotAllowedByPolicy,
                       "a page may only sign logins for its own origin");
    }
    origin = *context.caller.origin;
  } else {
    origin = p.string("origin", 512);
    if (!isCanonicalWebOrigin(origin)) {
      badRequest("origin must be a web origin such as https://app.example");
    }
  }
  const std::string indexServer = p.string("indexServer", 2048);
  const Bytes nonce = p.base64("nonce", 16, 64);
  const std::uint64_t timestamp = p.u64("timestamp");
  const SignatureFormat format = signatureFormatParam(p);
  const Bytes message = scheme::loginMessage(origin, indexServer, nonce, timestamp);
  // Login signatures are not in a space: the origin is in the signed message.
  SchemeCall call(context, Space{}, p.optionalString("key"));
  json result = call.signWithTokenKey(message, format);
  result["message"] = toBase64(message);
  return result;
}

json handleSeal(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "plaintext", "space"});
  const std::string uri = p.string("uri", kMaxUri);
  const Bytes plaintext = p.base64("plaintext");
  SchemeCall call(context, spaceFor(context, p), p.optionalString("key"));
  return {{"sealed", toBase64(scheme::seal(call.root(), uri, plaintext))},
          {"space", call.space().name()}};
}

json handleOpen(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "sealed", "space"});
  const std::string uri = p.string("uri", kMaxUri);
  const Bytes sealed = p.base64("sealed");
  SchemeCall call(context, spaceFor(context, p), p.optionalString("key"));
  const SecureBytes plaintext = scheme::open(call.root(), uri, sealed);
  return {{"plaintext", toBase64(plaintext)}, {"space", call.space().name()}};
}

json handleSign(RequestContext& context, const json& params) {
  const Params p(params, {"key", "message", "algorithm", "signatureFormat"});
  if (!context.tokens.policy()->rawSigning) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, "raw signing is turned off by policy");
  }
  const Bytes message = p.base64("message");
  if (scheme::isReservedMessage(message)) {
    // The root secret is a signature over a "p2pcp/" message: never sign one on request.
    throw AgentError(ErrorCode::NotAllowedByPolicy,
                     "messages beginning with \"p2pcp/\" are reserved");
  }
  std::optional<pkcs11::SignAlgorithm> algorithm;
  if (const auto name = p.optionalString("algorithm", 32)) {
    algorithm = pkcs11::signAlgorithmFromName(*name);
    if (!algorithm) {
      badRequest("unknown algorithm \"" + name->substr(0, 32) + "\"");
    }
  }
  const SignatureFormat format = signatureFormatParam(p);
  SchemeCall call(context, Space{}, p.optionalString("key"));
  return call.signWithTokenKey(message, format, algorithm);
}

}  // namespace p2pcp::agent
