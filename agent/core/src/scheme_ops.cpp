// SPDX-License-Identifier: Apache-2.0
// The per-item work of the p2pcp operations, shared by the single and bulk
// handlers. Each works in a space (docs/scheme.md, "Spaces"): a page with site
// access in its origin's site space, a page with full access and local
// programs in the person's full space; local programs may name a site space
// with "space".
#include "scheme_ops.hpp"

#include <algorithm>

#include "p2pcp/agent/default_key_store.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/no_wait.hpp"
#include "p2pcp/agent/origin.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::agent {

using nlohmann::json;
using pkcs11::KeyType;
using pkcs11::SignAlgorithm;

namespace {

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

std::pair<std::shared_ptr<Token>, pkcs11::KeyDescription> resolveKeyFor(
    RequestContext& context, const std::optional<std::string>& keyRef) {
  const bool seesTokens = !context.caller.isPage() || context.grade == Grade::Full;
  if (seesTokens) {
    return context.tokens.resolveKey(keyRef);
  }
  if (keyRef && !isKeyFingerprint(*keyRef)) {
    // Whether pkcs11:serial=... finds a key would tell the page the serial.
    throw AgentError(ErrorCode::BadRequest,
                     "key must be a key fingerprint (64 lowercase hex digits, as listKeys shows "
                     "them); PKCS#11 URIs need full access",
                     {{"param", "key"}});
  }
  try {
    return context.tokens.resolveKey(keyRef);
  } catch (const MustNotWait&) {
    throw;
  } catch (...) {
    try {
      rethrowAsAgentError();
    } catch (const AgentError& error) {
      // The chosen default's error names it by label and fingerprint (data
      // "defaultKey"), which the page may see; agent.json's default is a URI
      // (token label and serial): say what the page can act on instead.
      if (keyRef || error.data().contains("defaultKey") ||
          (error.code() != ErrorCode::KeyNotFound && error.code() != ErrorCode::KeyAmbiguous)) {
        throw;
      }
      throw AgentError(error.code(),
                       error.code() == ErrorCode::KeyNotFound
                           ? "the default key is not present; ask the person to insert its token "
                             "or to choose another default key"
                           : "several keys and no default: name one by its fingerprint (listKeys)",
                       error.data());
    }
  }
}

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

bool privateKindParam(const Params& p) {
  const std::string kind = p.string("kind", 16);
  if (kind != "public" && kind != "private") {
    badRequest(R"(kind must be "public" or "private")");
  }
  return kind == "private";
}

SchemeCall::SchemeCall(RequestContext& context, Space space,
                       const std::optional<std::string>& keyParam)
    : context_(context), space_(std::move(space)) {
  std::tie(token_, key_) = resolveKeyFor(context, keyParam);
}

ByteView SchemeCall::root() {
  if (!root_) {
    SecureBytes root = context_.tokens.root(context_.caller, token_, key_);
    root_ = space_.site ? scheme::originRoot(root, *space_.site) : std::move(root);
  }
  return *root_;
}

const scheme::RootDerivations& SchemeCall::derivations() {
  if (!derivations_) {
    derivations_.emplace(root());
  }
  return *derivations_;
}

json SchemeCall::signWithTokenKey(ByteView message, SignatureFormat format,
                                  std::optional<SignAlgorithm> chosen) {
  const SignAlgorithm algorithm = chosen.value_or(schemeAlgorithm(key_.type));
  Bytes signature = context_.tokens.sign(context_.caller, token_, key_, algorithm, message);
  return signatureResult(inSignatureFormat(std::move(signature), key_.type, format), key_.spki,
                         algorithm);
}

json signatureResult(ByteView signature, ByteView spki, SignAlgorithm algorithm) {
  return {{"signature", toBase64(signature)},
          {"publicKey", toBase64(spki)},
          {"algorithm", pkcs11::signAlgorithmName(algorithm)}};
}

std::string storageKeyHex(SchemeCall& call, bool privateKind, std::string_view uri) {
  if (!privateKind) {
    // The same in every space: anyone with the public key computes it.
    return toHex(scheme::publicStorageKey(call.key().spki, uri));
  }
  return toHex(call.derivations().privateStorageKey(uri));
}

Params blockItemParams(const json& item) {
  if (!item.is_object()) {
    badRequest("each item of \"blocks\" must be an object");
  }
  return {item, {"uri", "kind", "storageKey", "private", "seq", "payload", "payloadSha256"}};
}

BlockRequest readBlockRequest(const Params& p, const Space& space) {
  BlockRequest block;
  block.seq = p.u64("seq");
  block.payloadHash = payloadHashParam(p);
  if (p.has("uri") == p.has("storageKey")) {
    badRequest(
        "give exactly one of \"uri\" (with \"kind\"; the agent computes the storage key) and "
        "\"storageKey\"");
  }
  if (p.has("uri")) {
    if (p.has("private")) {
      badRequest(R"("private" goes with "storageKey"; with "uri" say "kind": "private")");
    }
    block.uri = p.string("uri", kMaxUri);
    block.privateKind = privateKindParam(p);
    if (!block.privateKind && space.site && !scheme::isUriInSpace(*space.site, *block.uri)) {
      // A site signs public blocks only under its own name, so it can never
      // write the person's profile or another site's public data.
      throw AgentError(ErrorCode::NotAllowedByPolicy,
                       "in the site space of " + *space.site +
                           " public blocks are signed only for uris beginning with \"" +
                           *space.site + "/\"");
    }
    return block;
  }
  if (p.has("kind")) {
    badRequest(R"("kind" goes with "uri"; with "storageKey" give "private" for a private block)");
  }
  block.storageKey = p.hex("storageKey", kStorageKeyBytes);
  block.privateUri = p.optionalString("private", kMaxUri);
  if (space.site) {
    throw AgentError(ErrorCode::NotAllowedByPolicy,
                     "signing over a bare storage key needs full access; in a site space, sign "
                     "by \"uri\"");
  }
  return block;
}

json signBlockRequest(SchemeCall& call, const BlockRequest& block, SignatureFormat format) {
  Bytes storageKey = block.storageKey;
  std::optional<SecureBytes> writeSeed;  // set for private blocks
  if (block.uri && !block.privateKind) {
    const Sha256 publicKey = scheme::publicStorageKey(call.key().spki, *block.uri);
    storageKey.assign(publicKey.begin(), publicKey.end());
  } else if (block.uri) {
    const SecureBytes privateKey = call.derivations().privateStorageKey(*block.uri);
    storageKey.assign(privateKey.begin(), privateKey.end());
    writeSeed = call.derivations().writeKeySeed(*block.uri);
  } else if (block.privateUri) {
    writeSeed = call.derivations().writeKeySeed(*block.privateUri);
  }

  const Bytes message = scheme::blockMessage(storageKey, block.seq, block.payloadHash);
  json result;
  if (writeSeed) {
    // Private blocks are signed by a key derived for their uri, so they do not
    // link to the person's identity; they never touch the token.
    const auto write = scheme::signWithWriteKeyAndSpki(*writeSeed, message);
    result = signatureResult(write.signature, write.spki, SignAlgorithm::Ed25519);
  } else {
    result = call.signWithTokenKey(message, format);
  }
  result["storageKey"] = toHex(storageKey);
  return result;
}

}  // namespace p2pcp::agent
