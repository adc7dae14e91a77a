// SPDX-License-Identifier: Apache-2.0
#pragma once
// Finding exactly one token, or exactly one private key, that a PKCS#11 URI
// names among a list of tokens: the one rule for both the in-process inventory
// (the helper) and the agent's view of its helpers' tokens. TokenPtr is a
// shared_ptr to anything with lastTokenInfo() and keys().

#include <optional>
#include <string>
#include <utility>

#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/types.hpp"
#include "p2pcp/pkcs11/uri.hpp"

namespace p2pcp::pkcs11 {

// Throws LayerError(NoSuchToken / AmbiguousKey / BadUri).
template <typename Tokens>
auto findUniqueToken(const Tokens& tokens, const std::string& uri) {
  const UriFilter filter(uri);
  typename Tokens::value_type match;
  for (const auto& token : tokens) {
    if (!filter.matchesToken(token->lastTokenInfo())) {
      continue;
    }
    if (match) {
      throw LayerError(LayerError::Kind::AmbiguousKey,
                       "several tokens match " + uri + "; name one by its URI");
    }
    match = token;
  }
  if (!match) {
    throw LayerError(LayerError::Kind::NoSuchToken, "no token matches " + uri);
  }
  return match;
}

// Throws LayerError(NoSuchKey / AmbiguousKey / BadUri).
template <typename Tokens>
auto findUniqueKey(const Tokens& tokens, const std::string& uri) {
  const UriFilter filter(uri);
  std::optional<std::pair<typename Tokens::value_type, KeyDescription>> match;
  for (const auto& token : tokens) {
    if (!filter.matchesToken(token->lastTokenInfo())) {
      continue;
    }
    for (auto& key : token->keys()) {
      if (!filter.matchesObject(key.id, key.label, CKO_PRIVATE_KEY)) {
        continue;
      }
      if (match) {
        throw LayerError(LayerError::Kind::AmbiguousKey,
                         "several keys match " + uri + "; name one by its URI");
      }
      match.emplace(token, std::move(key));
    }
  }
  if (!match) {
    throw LayerError(LayerError::Kind::NoSuchKey, "no key matches " + uri);
  }
  return std::move(*match);
}

}  // namespace p2pcp::pkcs11
