// The p2pcp operations: storage keys, block and login signatures, seal/open, raw sign.
#include <chrono>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
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

}  // namespace

json handleDeriveStorageKey(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"key", "uri", "kind"});
  const std::string uri = p.string("uri", kMaxUri);
  const std::string kind = p.string("kind", 16);
  const auto [token, key] = service.resolveKey(p.optionalString("key"));
  if (kind == "public") {
    return {{"storageKey", toHex(scheme::publicStorageKey(key.spki, uri))}, {"kind", kind}};
  }
  if (kind == "private") {
    const SecureBytes root = service.root(caller, token, key);
    return {{"storageKey", toHex(scheme::privateStorageKey(root, uri))}, {"kind", kind}};
  }
  badRequest("kind must be \"public\" or \"private\"");
}

json handleSignBlock(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"key", "storageKey", "seq", "payload", "payloadSha256", "private"});
  const Bytes storageKey = p.hex("storageKey", kStorageKeyBytes);
  const std::uint64_t seq = p.u64("seq");
  if (p.has("payload") == p.has("payloadSha256")) {
    badRequest("give exactly one of \"payload\" (base64) and \"payloadSha256\" (hex)");
  }
  Sha256 payloadHash{};
  if (p.has("payload")) {
    payloadHash = sha256(p.base64("payload"));
  } else {
    const Bytes hash = p.hex("payloadSha256", payloadHash.size());
    std::copy(hash.begin(), hash.end(), payloadHash.begin());
  }
  const Bytes message = scheme::blockMessage(storageKey, seq, payloadHash);
  const auto [token, key] = service.resolveKey(p.optionalString("key"));

  if (const auto privateUri = p.optionalString("private", kMaxUri)) {
    // Private blocks are signed by a key derived for this uri, so they do not link
    // to the person's identity.
    const SecureBytes root = service.root(caller, token, key);
    const SecureBytes seed = scheme::writeKeySeed(root, *privateUri);
    return signatureResult(scheme::signWithWriteKey(seed, message), scheme::writeKeySpki(seed),
                           SignAlgorithm::Ed25519);
  }
  const SignAlgorithm algorithm = schemeAlgorithm(key.type);
  return signatureResult(service.sign(caller, token, key, algorithm, message), key.spki, algorithm);
}

json handleSignLogin(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"key", "indexServer", "nonce", "timestamp", "origin"});
  std::string origin;
  if (caller.origin) {
    // The browser's word for who is asking; a page cannot name another site.
    if (p.has("origin") && p.string("origin", 512) != *caller.origin) {
      throw AgentError(ErrorCode::NotAllowedByPolicy,
                       "a page may only sign logins for its own origin");
    }
    origin = *caller.origin;
  } else {
    origin = p.string("origin", 512);
    if (!isValidOrigin(origin)) {
      badRequest("origin must be a web origin such as https://app.example");
    }
  }
  const std::string indexServer = p.string("indexServer", 2048);
  const Bytes nonce = p.base64("nonce", 16, 64);
  const std::uint64_t timestamp = p.u64("timestamp");
  const Bytes message = scheme::loginMessage(origin, indexServer, nonce, timestamp);
  const auto [token, key] = service.resolveKey(p.optionalString("key"));
  const SignAlgorithm algorithm = schemeAlgorithm(key.type);
  json result =
      signatureResult(service.sign(caller, token, key, algorithm, message), key.spki, algorithm);
  result["message"] = toBase64(message);
  return result;
}

json handleSeal(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"key", "uri", "plaintext"});
  const std::string uri = p.string("uri", kMaxUri);
  const Bytes plaintext = p.base64("plaintext");
  const auto [token, key] = service.resolveKey(p.optionalString("key"));
  const SecureBytes root = service.root(caller, token, key);
  return {{"sealed", toBase64(scheme::seal(root, uri, plaintext))}};
}

json handleOpen(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"key", "uri", "sealed"});
  const std::string uri = p.string("uri", kMaxUri);
  const Bytes sealed = p.base64("sealed");
  const auto [token, key] = service.resolveKey(p.optionalString("key"));
  const SecureBytes root = service.root(caller, token, key);
  const SecureBytes plaintext = scheme::open(root, uri, sealed);
  return {{"plaintext", toBase64(plaintext)}};
}

json handleSign(TokenService& service, const Caller& caller, const json& params) {
  const Params p(params, {"key", "message", "algorithm"});
  if (!service.policy().rawSigning) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, "raw signing is turned off by policy");
  }
  const Bytes message = p.base64("message");
  if (scheme::isReservedMessage(message)) {
    // The root secret is a signature over a "p2pcp/" message: never sign one on request.
    throw AgentError(ErrorCode::NotAllowedByPolicy,
                     "messages beginning with \"p2pcp/\" are reserved");
  }
  const auto [token, key] = service.resolveKey(p.optionalString("key"));
  SignAlgorithm algorithm = schemeAlgorithm(key.type);
  if (const auto name = p.optionalString("algorithm", 32)) {
    const auto chosen = pkcs11::signAlgorithmFromName(*name);
    if (!chosen) {
      badRequest("unknown algorithm \"" + *name + "\"");
    }
    algorithm = *chosen;
  }
  return signatureResult(service.sign(caller, token, key, algorithm, message), key.spki, algorithm);
}

}  // namespace p2pcp::agent
