// SPDX-License-Identifier: Apache-2.0
// The p2pcp operations: storage keys, block and login signatures, seal/open, raw sign.
// Each works in a space (docs/scheme.md, "Spaces"): a page with site access in
// its origin's site space, a page with full access and local programs in the
// person's full space; local programs may name a site space with "space".
#include <chrono>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/origin.hpp"
#include "p2pcp/agent/params.hpp"
#include "p2pcp/common/digest.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::agent {

using nlohmann::json;
using pkcs11::KeyType;
using pkcs11::SignAlgorithm;

namespace {

constexpr std::size_t kMaxUri = 4096;
constexpr std::size_t kStorageKeyBytes = 32;

// The signature algorithm the scheme uses for each key type.
SignAlgorithm schemeAlgorithm(KeyType type) {
  switch (type) {
    case KeyType::Rsa:
      return SignAlgorithm::RsaPkcs1Sha256;
    case KeyType::EcP256:
      return SignAlgorithm::EcdsaSha256;
    case KeyType::EcP384:
      return SignAlgorithm::EcdsaSha384;
    case KeyType::Ed25519:
      return SignAlgorithm::Ed25519;
  }
  throw AgentError(ErrorCode::Unsupported, "unsupported key type");
}

json signatureResult(ByteView signature, ByteView spki, SignAlgorithm algorithm) {
  return {{"signature", toBase64(signature)},
          {"publicKey", toBase64(spki)},
          {"algorithm", pkcs11::signAlgorithmName(algorithm)}};
}

// The space this request works in. A page has no say: its grade decides.
Space spaceFor(RequestContext& context, const Params& p) {
  if (context.caller.isPage()) {
    if (p.has("space")) {
      throw AgentError(ErrorCode::NotAllowedByPolicy,
                       "a page works in the space its access gives it; \"space\" is for local "
                       "programs");
    }
    if (context.grade == Grade::Full) {
      return {};
    }
    return {context.access.spaceOf(context.caller.origin.value())};
  }
  if (!p.has("space")) {
    return {};
  }
  const std::string origin = p.string("space", 512);
  if (!isCanonicalWebOrigin(origin)) {
    badRequest("space must be a web origin as browsers report it, such as https://app.example");
  }
  return {context.access.spaceOf(origin)};
}

// The secret every private derivation of the space starts from.
SecureBytes spaceRoot(RequestContext& context, const std::shared_ptr<Token>& token,
                      const pkcs11::KeyDescription& key, const Space& space) {
  SecureBytes root = context.tokens.root(context.caller, token, key);
  if (!space.site) {
    return root;
  }
  return scheme::originRoot(root, *space.site);
}

std::string kindParam(const Params& p) {
  std::string kind = p.string("kind", 16);
  if (kind != "public" && kind != "private") {
    badRequest(R"(kind must be "public" or "private")");
  }
  return kind;
}

Sha256 payloadHashParam(const Params& p) {
  if (p.has("payload") == p.has("payloadSha256")) {
    badRequest(R"(give exactly one of "payload" (base64) and "payloadSha256" (hex))");
  }
  if (p.has("payload")) {
    return sha256(p.base64("payload"));
  }
  Sha256 hash{};
  const Bytes given = p.hex("payloadSha256", hash.size());
  std::copy(given.begin(), given.end(), hash.begin());
  return hash;
}

}  // namespace

json handleDeriveStorageKey(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "kind", "space"});
  const std::string uri = p.string("uri", kMaxUri);
  const std::string kind = kindParam(p);
  const Space space = spaceFor(context, p);
  const auto [token, key] = context.tokens.resolveKey(p.optionalString("key"));
  if (kind == "public") {
    // The same in every space: anyone with the public key computes it.
    return {{"storageKey", toHex(scheme::publicStorageKey(key.spki, uri))}, {"kind", kind}};
  }
  const SecureBytes root = spaceRoot(context, token, key, space);
  return {{"storageKey", toHex(scheme::privateStorageKey(root, uri))},
          {"kind", kind},
          {"space", space.name()}};
}

json handleSignBlock(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "kind", "storageKey", "private", "seq", "payload",
                          "payloadSha256", "space"});
  const std::uint64_t seq = p.u64("seq");
  const Sha256 payloadHash = payloadHashParam(p);
  const Space space = spaceFor(context, p);
  if (p.has("uri") == p.has("storageKey")) {
    badRequest(
        "give exactly one of \"uri\" (with \"kind\"; the agent computes the storage key) and "
        "\"storageKey\"");
  }
  // Every parameter is checked before the token is touched.
  std::optional<std::string> uri;
  std::string kind;
  Bytes storageKey;
  std::optional<std::string> privateUri;
  if (p.has("uri")) {
    if (p.has("private")) {
      badRequest(R"("private" goes with "storageKey"; with "uri" say "kind": "private")");
    }
    uri = p.string("uri", kMaxUri);
    kind = kindParam(p);
    if (kind == "public" && space.site && !scheme::isUriInSpace(*space.site, *uri)) {
      // A site signs public blocks only under its own name, so it can never
      // write the person's profile or another site's public data.
      throw AgentError(ErrorCode::NotAllowedByPolicy,
                       "in the site space of " + *space.site +
                           " public blocks are signed only for uris beginning with \"" +
                           *space.site + "/\"");
    }
  } else {
    if (p.has("kind")) {
      badRequest(R"("kind" goes with "uri"; with "storageKey" give "private" for a private block)");
    }
    storageKey = p.hex("storageKey", kStorageKeyBytes);
    privateUri = p.optionalString("private", kMaxUri);
    if (space.site) {
      throw AgentError(ErrorCode::NotAllowedByPolicy,
                       "signing over a bare storage key needs full access; in a site space, sign "
                       "by \"uri\"");
    }
  }
  const auto [token, key] = context.tokens.resolveKey(p.optionalString("key"));

  std::optional<SecureBytes> writeSeed;  // set for private blocks
  if (uri && kind == "public") {
    const Sha256 publicKey = scheme::publicStorageKey(key.spki, *uri);
    storageKey.assign(publicKey.begin(), publicKey.end());
  } else if (uri) {
    const SecureBytes root = spaceRoot(context, token, key, space);
    const SecureBytes privateKey = scheme::privateStorageKey(root, *uri);
    storageKey.assign(privateKey.begin(), privateKey.end());
    writeSeed = scheme::writeKeySeed(root, *uri);
  } else if (privateUri) {
    writeSeed = scheme::writeKeySeed(spaceRoot(context, token, key, space), *privateUri);
  }

  const Bytes message = scheme::blockMessage(storageKey, seq, payloadHash);
  json result;
  if (writeSeed) {
    // Private blocks are signed by a key derived for their uri, so they do not
    // link to the person's identity.
    result = signatureResult(scheme::signWithWriteKey(*writeSeed, message),
                             scheme::writeKeySpki(*writeSeed), SignAlgorithm::Ed25519);
  } else {
    const SignAlgorithm algorithm = schemeAlgorithm(key.type);
    result = signatureResult(context.tokens.sign(context.caller, token, key, algorithm, message),
                             key.spki, algorithm);
  }
  result["storageKey"] = toHex(storageKey);
  result["space"] = space.name();
  return result;
}

json handleSignLogin(RequestContext& context, const json& params) {
  const Params p(params, {"key", "indexServer", "nonce", "timestamp", "origin"});
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
  const Bytes message = scheme::loginMessage(origin, indexServer, nonce, timestamp);
  const auto [token, key] = context.tokens.resolveKey(p.optionalString("key"));
  const SignAlgorithm algorithm = schemeAlgorithm(key.type);
  json result = signatureResult(context.tokens.sign(context.caller, token, key, algorithm, message),
                                key.spki, algorithm);
  result["message"] = toBase64(message);
  return result;
}

json handleSeal(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "plaintext", "space"});
  const std::string uri = p.string("uri", kMaxUri);
  const Bytes plaintext = p.base64("plaintext");
  const Space space = spaceFor(context, p);
  const auto [token, key] = context.tokens.resolveKey(p.optionalString("key"));
  const SecureBytes root = spaceRoot(context, token, key, space);
  return {{"sealed", toBase64(scheme::seal(root, uri, plaintext))}, {"space", space.name()}};
}

json handleOpen(RequestContext& context, const json& params) {
  const Params p(params, {"key", "uri", "sealed", "space"});
  const std::string uri = p.string("uri", kMaxUri);
  const Bytes sealed = p.base64("sealed");
  const Space space = spaceFor(context, p);
  const auto [token, key] = context.tokens.resolveKey(p.optionalString("key"));
  const SecureBytes root = spaceRoot(context, token, key, space);
  const SecureBytes plaintext = scheme::open(root, uri, sealed);
  return {{"plaintext", toBase64(plaintext)}, {"space", space.name()}};
}

json handleSign(RequestContext& context, const json& params) {
  const Params p(params, {"key", "message", "algorithm"});
  if (!context.tokens.policy()->rawSigning) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, "raw signing is turned off by policy");
  }
  const Bytes message = p.base64("message");
  if (scheme::isReservedMessage(message)) {
    // The root secret is a signature over a "p2pcp/" message: never sign one on request.
    throw AgentError(ErrorCode::NotAllowedByPolicy,
                     "messages beginning with \"p2pcp/\" are reserved");
  }
  const auto [token, key] = context.tokens.resolveKey(p.optionalString("key"));
  SignAlgorithm algorithm = schemeAlgorithm(key.type);
  if (const auto name = p.optionalString("algorithm", 32)) {
    const auto chosen = pkcs11::signAlgorithmFromName(*name);
    if (!chosen) {
      badRequest("unknown algorithm \"" + *name + "\"");
    }
    algorithm = *chosen;
  }
  return signatureResult(context.tokens.sign(context.caller, token, key, algorithm, message),
                         key.spki, algorithm);
}

}  // namespace p2pcp::agent
