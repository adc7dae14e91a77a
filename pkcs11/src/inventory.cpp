// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/inventory.hpp"

#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/text.hpp"
#include "p2pcp/pkcs11/uri.hpp"

namespace p2pcp::pkcs11 {

Inventory::Inventory(std::vector<std::shared_ptr<Module>> modules) : modules_(std::move(modules)) {}

void Inventory::refresh() {
  std::vector<std::shared_ptr<Token>> next;
  for (const auto& module : modules_) {
    std::vector<SlotDescription> slots;
    try {
      slots = module->slots(true);
    } catch (const Pkcs11Error&) {
      continue;  // a module whose reader service is down has no tokens right now
    }
    for (const auto& slot : slots) {
      CK_TOKEN_INFO info{};
      if (module->functions()->C_GetTokenInfo(slot.id, &info) != CKR_OK) {
        continue;  // removed between the slot list and now
      }
      if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) {
        continue;  // a blank token (SoftHSM2 always offers one) holds no keys
      }
      // Keep the Token object (its session and login) when the same token is in the
      // same slot; a different token in that slot (a card swap) gets a new one.
      std::shared_ptr<Token> token;
      for (const auto& known : tokens_) {
        if (known->module() == module && known->slot() == slot.id) {
          const CK_TOKEN_INFO& previous = known->lastTokenInfo();
          if (paddedText(previous.serialNumber) == paddedText(info.serialNumber) &&
              paddedText(previous.label) == paddedText(info.label)) {
            token = known;
          }
        }
      }
      if (!token) {
        token = std::make_shared<Token>(module, slot.id);
      }
      token->setLastTokenInfo(info);
      next.push_back(std::move(token));
    }
  }
  tokens_ = std::move(next);
}

std::shared_ptr<Token> Inventory::findToken(const std::string& uri) const {
  const UriFilter filter(uri);
  std::shared_ptr<Token> match;
  for (const auto& token : tokens_) {
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

std::pair<std::shared_ptr<Token>, KeyDescription> Inventory::findKey(const std::string& uri) const {
  const UriFilter filter(uri);
  std::optional<std::pair<std::shared_ptr<Token>, KeyDescription>> match;
  for (const auto& token : tokens_) {
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
