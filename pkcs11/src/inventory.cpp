// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/inventory.hpp"

#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/lookup.hpp"
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
  return findUniqueToken(tokens_, uri);
}

std::pair<std::shared_ptr<Token>, KeyDescription> Inventory::findKey(const std::string& uri) const {
  return findUniqueKey(tokens_, uri);
}

}  // namespace p2pcp::pkcs11
