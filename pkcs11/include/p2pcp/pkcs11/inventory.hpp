// SPDX-License-Identifier: Apache-2.0
#pragma once
// All tokens across the loaded modules, and key lookup by PKCS#11 URI.
// Not thread-safe: the agent serialises access.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "p2pcp/pkcs11/module.hpp"
#include "p2pcp/pkcs11/token.hpp"

namespace p2pcp::pkcs11 {

class Inventory {
 public:
  explicit Inventory(std::vector<std::shared_ptr<Module>> modules);

  // Re-scans every module's slots for present tokens. A token whose slot and serial
  // are unchanged keeps its Token object (and so its session and login state).
  void refresh();
  [[nodiscard]] const std::vector<std::shared_ptr<Token>>& tokens() const noexcept {
    return tokens_;
  }
  [[nodiscard]] const std::vector<std::shared_ptr<Module>>& modules() const noexcept {
    return modules_;
  }

  // Exactly one token matching the URI ("pkcs11:" alone matches any; fine when there is one).
  // Throws LayerError(NoSuchToken / AmbiguousKey / BadUri).
  [[nodiscard]] std::shared_ptr<Token> findToken(const std::string& uri) const;
  // Exactly one private key matching the URI across all tokens.
  // Throws LayerError(NoSuchKey / AmbiguousKey / BadUri).
  [[nodiscard]] std::pair<std::shared_ptr<Token>, KeyDescription> findKey(
      const std::string& uri) const;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
  std::vector<std::shared_ptr<Token>> tokens_;
};

}  // namespace p2pcp::pkcs11
