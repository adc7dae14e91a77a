// SPDX-License-Identifier: Apache-2.0
#pragma once
// Every token of every module, each module in its own helper process, and key
// lookup by PKCS#11 URI. Thread-safe: requests for one module's tokens never
// wait for another module (scans skip a module busy with an operation).

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "p2pcp/pkcs11/types.hpp"
#include "p2pcp/tokens/helper_process.hpp"
#include "p2pcp/tokens/remote_token.hpp"

namespace p2pcp::tokens {

struct ModuleInfo {
  std::string name;  // as p11-kit or the module reports it
  std::string path;  // canonical (realpath)
  bool available = true;
  std::string error;  // why the last scan failed, when not available
};

class RemoteInventory {
 public:
  // One helper per module path; none is started before the first scan.
  RemoteInventory(const std::vector<std::string>& modulePaths, std::filesystem::path helperProgram,
                  HelperTimeouts timeouts = {});

  // Scans every module's slots (starting helpers that do not run). A token whose
  // helper, slot, serial and label are unchanged keeps its RemoteToken (and so
  // its login); a module whose helper fails is skipped, its tokens absent.
  void refresh();
  // Serves exactly these modules from now on (a policy reload): a module still
  // listed keeps its helper and tokens; the others are dropped with their tokens,
  // and their helper stops once no request uses it any more.
  void useModules(const std::vector<std::string>& modulePaths);
  // The tokens of the last scan (a copy: another thread may scan meanwhile).
  [[nodiscard]] std::vector<std::shared_ptr<RemoteToken>> tokens() const;
  [[nodiscard]] std::vector<ModuleInfo> modules() const;
  // The slot-event pipes of the helpers that run now (see HelperProcess).
  [[nodiscard]] std::vector<std::shared_ptr<const SlotEvents>> slotEvents() const;

  // Exactly one token matching the URI ("pkcs11:" alone matches any; fine when there is one).
  // Throws LayerError(NoSuchToken / AmbiguousKey / BadUri).
  [[nodiscard]] std::shared_ptr<RemoteToken> findToken(const std::string& uri) const;
  // Exactly one private key matching the URI across all tokens.
  // Throws LayerError(NoSuchKey / AmbiguousKey / BadUri).
  [[nodiscard]] std::pair<std::shared_ptr<RemoteToken>, pkcs11::KeyDescription> findKey(
      const std::string& uri) const;

 private:
  struct Module {
    std::shared_ptr<HelperProcess> helper;
    std::string name;
    bool available = true;
    std::string error;  // the last scan's failure, for status and p2pcp doctor
  };
  std::mutex refreshMutex_;  // one scan at a time, and changes to the list of modules
  mutable std::mutex
      listMutex_;  // tokens_, modules_ (changes, and each one's name and availability)
  std::vector<Module> modules_;
  std::filesystem::path helperProgram_;
  HelperTimeouts timeouts_;
  std::vector<std::shared_ptr<RemoteToken>> tokens_;
};

}  // namespace p2pcp::tokens
