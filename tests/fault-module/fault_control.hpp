// SPDX-License-Identifier: Apache-2.0
#pragma once
// The test side of the fault module: a private directory with the rules file
// and the call log, the environment that points a process at them, and
// readers for the log. Rules are written whole and renamed into place, so
// the module never reads half a file.

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace p2pcp::testing {

class FaultControl {
 public:
  FaultControl();
  FaultControl(const FaultControl&) = delete;
  FaultControl& operator=(const FaultControl&) = delete;
  FaultControl(FaultControl&&) = delete;
  FaultControl& operator=(FaultControl&&) = delete;
  ~FaultControl();

  // libp2pcp-fault-pkcs11.so of this build.
  [[nodiscard]] static std::string modulePath();
  // P2PCP_FAULT_RULES and P2PCP_FAULT_LOG for a process that loads the module.
  [[nodiscard]] std::map<std::string, std::string> environment() const;

  // Replaces the rules (an empty list: no rules). The next call of every
  // process that loaded the module sees them.
  void setRules(const std::vector<nlohmann::json>& rules) const;
  void setRule(const nlohmann::json& rule) const { setRules({rule}); }
  void clearRules() const { setRules({}); }
  // Writes this text as the rules file, for tests of the file format itself.
  void setRulesText(const std::string& text) const;

  // Every line of the call log so far.
  [[nodiscard]] std::vector<nlohmann::json> calls() const;
  // How many calls of this function were logged, optionally only with this result.
  [[nodiscard]] int count(const std::string& call,
                          const std::optional<std::string>& rv = std::nullopt) const;
  // Forgets the log so far, so a test can count the calls of one request.
  void clearLog() const;

  [[nodiscard]] const std::filesystem::path& rulesFile() const noexcept { return rules_; }
  [[nodiscard]] const std::filesystem::path& logFile() const noexcept { return log_; }

 private:
  std::filesystem::path directory_;
  std::filesystem::path rules_;
  std::filesystem::path log_;
};

}  // namespace p2pcp::testing
