// SPDX-License-Identifier: Apache-2.0
#pragma once
// Small helpers for the tests of the policy reaching a running agent and of
// the agent's lifetime.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"

namespace p2pcp::testing {

// Replaces the file as configuration management does: a new file beside it,
// renamed over the old one (one atomic step, a new inode).
inline void rollOut(const std::filesystem::path& file, const std::string& text) {
  const auto next = file.string() + ".new";
  {
    std::ofstream out(next, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(next, file);
}

// Polls `check` until it holds or `limit` has passed.
template <typename Check>
bool eventually(Check check, std::chrono::milliseconds limit = std::chrono::seconds(8)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return check();
}

// The typed error code of a call on a fresh connection; "" when it succeeded.
inline std::string callError(const AgentHarness& harness, const std::string& method,
                             const nlohmann::json& params,
                             const nlohmann::json& meta = nlohmann::json::object()) {
  try {
    (void)harness.connect().call(method, params, meta);
    return "";
  } catch (const client::AgentCallError& e) {
    return e.code();
  }
}

// The pids of a process's children (its helpers), from /proc.
inline std::vector<pid_t> childrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ec;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child = 0; in >> child;) {
      children.push_back(child);
    }
  }
  return children;
}

// Whether the process has ended (gone, or a zombie nobody reaped yet).
inline bool processEnded(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return true;
  }
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace p2pcp::testing
