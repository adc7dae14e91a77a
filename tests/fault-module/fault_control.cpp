// SPDX-License-Identifier: Apache-2.0
#include "fault_control.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace p2pcp::testing {

namespace fs = std::filesystem;
using nlohmann::json;

FaultControl::FaultControl() {
  std::string pattern = (fs::temp_directory_path() / "p2pcp-fault.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  directory_ = pattern;
  rules_ = directory_ / "rules.json";
  log_ = directory_ / "calls.log";
}

FaultControl::~FaultControl() {
  std::error_code ignored;
  fs::remove_all(directory_, ignored);
}

std::string FaultControl::modulePath() {
  return P2PCP_FAULT_MODULE;
}

std::map<std::string, std::string> FaultControl::environment() const {
  return {{"P2PCP_FAULT_RULES", rules_.string()}, {"P2PCP_FAULT_LOG", log_.string()}};
}

void FaultControl::setRulesText(const std::string& text) const {
  const fs::path next = directory_ / "rules.json.next";
  {
    std::ofstream out(next, std::ios::trunc);
    out << text;
    if (!out.flush()) {
      throw std::runtime_error("cannot write " + next.string());
    }
  }
  fs::rename(next, rules_);  // atomic: the module sees the old file or the new one
}

void FaultControl::setRules(const std::vector<json>& rules) const {
  std::string text;
  for (const auto& rule : rules) {
    text += rule.dump() + "\n";
  }
  setRulesText(text);
}

std::vector<json> FaultControl::calls() const {
  std::vector<json> lines;
  std::ifstream in(log_);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(json::parse(line));
    }
  }
  return lines;
}

int FaultControl::count(const std::string& call, const std::optional<std::string>& rv) const {
  int n = 0;
  for (const auto& line : calls()) {
    if (line.value("call", "") == call && (!rv || line.value("rv", "") == *rv)) {
      ++n;
    }
  }
  return n;
}

void FaultControl::clearLog() const {
  std::error_code ignored;
  fs::remove(log_, ignored);
}

}  // namespace p2pcp::testing
