// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/tokens/remote_inventory.hpp"

#include <algorithm>
#include <optional>

#include "p2pcp/agent/log.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/helper_wire.hpp"
#include "p2pcp/pkcs11/lookup.hpp"
#include "p2pcp/pkcs11/text.hpp"
#include "p2pcp/pkcs11/uri.hpp"

namespace p2pcp::tokens {

RemoteInventory::RemoteInventory(const std::vector<std::string>& modulePaths,
                                 std::filesystem::path helperProgram, HelperTimeouts timeouts)
    : helperProgram_(helperProgram), timeouts_(timeouts) {
  for (const auto& path : modulePaths) {
    modules_.push_back({std::make_shared<HelperProcess>(helperProgram, path), path, true, {}});
  }
}

std::vector<ModuleInfo> RemoteInventory::modules() const {
  const std::scoped_lock lock(listMutex_);
  std::vector<ModuleInfo> out;
  for (const auto& module : modules_) {
    out.push_back({module.name, module.helper->modulePath(), module.available, module.error});
  }
  return out;
}

void RemoteInventory::useModules(const std::vector<std::string>& modulePaths) {
  const std::scoped_lock refreshing(refreshMutex_);
  std::vector<Module> next;
  for (const auto& path : modulePaths) {
    const auto kept = std::find_if(modules_.begin(), modules_.end(), [&](const Module& module) {
      return module.helper->modulePath() == path;
    });
    if (kept != modules_.end()) {
      next.push_back(*kept);
    } else {
      next.push_back({std::make_shared<HelperProcess>(helperProgram_, path), path, true, {}});
    }
  }
  const std::scoped_lock lock(listMutex_);
  for (const auto& module : modules_) {
    if (std::none_of(next.begin(), next.end(),
                     [&](const Module& m) { return m.helper == module.helper; })) {
      agent::logInfo("no longer serving PKCS#11 module " + module.helper->modulePath());
    }
  }
  std::erase_if(tokens_, [&](const std::shared_ptr<RemoteToken>& token) {
    return std::none_of(next.begin(), next.end(),
                        [&](const Module& m) { return m.helper == token->helper(); });
  });
  modules_ = std::move(next);
}

std::vector<std::shared_ptr<const SlotEvents>> RemoteInventory::slotEvents() const {
  const std::scoped_lock lock(listMutex_);
  std::vector<std::shared_ptr<const SlotEvents>> out;
  for (const auto& module : modules_) {
    if (auto events = module.helper->slotEvents()) {
      out.push_back(std::move(events));
    }
  }
  return out;
}

std::vector<std::shared_ptr<RemoteToken>> RemoteInventory::tokens() const {
  const std::scoped_lock lock(listMutex_);
  return tokens_;
}

void RemoteInventory::refresh() {
  const std::scoped_lock refreshing(refreshMutex_);
  const auto previous = tokens();
  std::vector<std::shared_ptr<RemoteToken>> next;
  for (auto& module : modules_) {  // the list changes only under refreshMutex_ (useModules)
    std::optional<nlohmann::json> scan;
    try {
      scan = module.helper->tryCall({{"op", "scan"}}, timeouts_.quick);
    } catch (const std::exception& e) {
      const std::scoped_lock lock(listMutex_);
      if (module.available) {
        agent::logWarning("PKCS#11 module " + module.helper->modulePath() +
                          " is unavailable: " + e.what());
      }
      module.available = false;
      module.error = e.what();
      continue;  // its tokens are absent until it answers again
    }
    if (!scan) {
      // The module is busy with an operation (a slow card, or one that hangs
      // until its bound): its tokens stay as last seen, and the other modules'
      // scans do not wait for it.
      for (const auto& token : previous) {
        if (token->helper() == module.helper) {
          next.push_back(token);
        }
      }
      continue;
    }
    const std::uint64_t generation = module.helper->generation();
    {
      const std::scoped_lock lock(listMutex_);
      module.available = true;
      module.error.clear();
      module.name = scan->at("module").value("name", module.name);
    }
    for (const auto& entry : scan->at("tokens")) {
      const auto slot = entry.at("slot").get<CK_SLOT_ID>();
      const CK_TOKEN_INFO info = pkcs11::wire::decodeTokenInfo(entry.at("info"));
      // Keep the token object (its login) for the same token in the same slot of
      // the same helper process; a different token there (a card swap) is new.
      std::shared_ptr<RemoteToken> token;
      for (const auto& known : previous) {
        const CK_TOKEN_INFO seen = known->lastTokenInfo();
        if (known->helper() == module.helper && known->generation() == generation &&
            known->slot() == slot &&
            pkcs11::paddedText(seen.serialNumber) == pkcs11::paddedText(info.serialNumber) &&
            pkcs11::paddedText(seen.label) == pkcs11::paddedText(info.label)) {
          token = known;
        }
      }
      if (!token) {
        token = std::make_shared<RemoteToken>(module.helper, generation, slot, info, module.name,
                                              timeouts_);
      }
      token->setLastTokenInfo(info);
      next.push_back(std::move(token));
    }
  }
  const std::scoped_lock lock(listMutex_);
  tokens_ = std::move(next);
}

std::shared_ptr<RemoteToken> RemoteInventory::findToken(const std::string& uri) const {
  return pkcs11::findUniqueToken(tokens(), uri);
}

std::pair<std::shared_ptr<RemoteToken>, pkcs11::KeyDescription> RemoteInventory::findKey(
    const std::string& uri) const {
  return pkcs11::findUniqueKey(tokens(), uri);
}

}  // namespace p2pcp::tokens
