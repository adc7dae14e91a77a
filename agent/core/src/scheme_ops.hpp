// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the single p2pcp operations (handlers_scheme.cpp) and their bulk forms
// (handlers_bulk.cpp) share, so that one item of a batch runs exactly the code
// of one call: the call's space, key and root (SchemeCall), the reading of a
// block to sign (BlockRequest), and one storage key or block signature.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/params.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/common/digest.hpp"
#include "p2pcp/scheme/scheme.hpp"
#include "signature_format.hpp"

namespace p2pcp::agent {

inline constexpr std::size_t kMaxUri = 4096;

// The key a request names (`key`), or the default, as this caller may name
// it: a page below full access sees no token labels or serials, so it names
// keys by fingerprint only (a PKCS#11 URI would let it probe them), and its
// key errors never quote a configured URI.
std::pair<std::shared_ptr<Token>, pkcs11::KeyDescription> resolveKeyFor(
    RequestContext& context, const std::optional<std::string>& keyRef);

// The space this request works in. A page has no say: its grade decides.
Space spaceFor(RequestContext& context, const Params& p);
// "public" -> false, "private" -> true; anything else is BAD_REQUEST.
bool privateKindParam(const Params& p);

// What a call works with that does not depend on its items: the space, the
// resolved key and, once asked for, the space's root. A batch makes one, so
// the key is resolved and the root derived (at most one PIN prompt) once.
class SchemeCall {
 public:
  SchemeCall(RequestContext& context, Space space, const std::optional<std::string>& keyParam);

  [[nodiscard]] const Space& space() const noexcept { return space_; }
  [[nodiscard]] const pkcs11::KeyDescription& key() const noexcept { return key_; }
  // The root of the call's space: from the token (or the agent's cache) on first use.
  [[nodiscard]] ByteView root();
  // The root's derivations, keyed once for all the call's items.
  [[nodiscard]] const scheme::RootDerivations& derivations();
  // {signature, publicKey, algorithm}: a signature by the token key, in `algorithm`
  // (default: the scheme's algorithm for the key's type), in `format`.
  [[nodiscard]] nlohmann::json signWithTokenKey(
      ByteView message, SignatureFormat format,
      std::optional<pkcs11::SignAlgorithm> algorithm = std::nullopt);

 private:
  RequestContext& context_;
  Space space_;
  std::shared_ptr<Token> token_;
  pkcs11::KeyDescription key_;
  std::optional<SecureBytes> root_;
  std::optional<scheme::RootDerivations> derivations_;
};

// {signature, publicKey, algorithm} as every signing method returns them.
nlohmann::json signatureResult(ByteView signature, ByteView spki, pkcs11::SignAlgorithm algorithm);

// 64 hex digits: the public or private storage key of uri in the call's space.
std::string storageKeyHex(SchemeCall& call, bool privateKind, std::string_view uri);

// One block to sign, read and checked before anything touches the token.
struct BlockRequest {
  std::optional<std::string> uri;         // the "uri" form; the storage key is computed
  bool privateKind = false;               // with uri: "kind": "private"
  Bytes storageKey;                       // the "storageKey" form
  std::optional<std::string> privateUri;  // with storageKey: "private"
  std::uint64_t seq = 0;
  Sha256 payloadHash{};

  // Whether the block is signed by a write key derived from the root.
  [[nodiscard]] bool needsRoot() const noexcept { return privateKind || privateUri.has_value(); }
};
// An item of signBlocks: an object with only the per-block params of signBlock.
Params blockItemParams(const nlohmann::json& item);
BlockRequest readBlockRequest(const Params& p, const Space& space);
// {signature, publicKey, algorithm, storageKey}.
nlohmann::json signBlockRequest(SchemeCall& call, const BlockRequest& block,
                                SignatureFormat format);

}  // namespace p2pcp::agent
