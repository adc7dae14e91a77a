// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/module_discovery.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <stdexcept>

#include "p2pcp/agent/json_parse.hpp"
#include "p2pcp/agent/log.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace p2pcp::agent {

namespace fs = std::filesystem;

namespace {

constexpr auto kListTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxListBytes = 1024 * 1024;

// The output of `helper --registered`, run under the agent's program name so
// that p11-kit applies the module files' enable-in / disable-in to the agent.
std::string runRegisteredListing(const fs::path& helper) {
  std::array<int, 2> pipeFds{};
  if (::pipe2(pipeFds.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipeFds[1], STDOUT_FILENO);
  // Nothing else of the agent's: a client's connection accepted on another
  // thread meanwhile must never reach vendor code.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::string programName = "p2pcp-agent";
  std::string mode = "--registered";
  std::array<char*, 3> argv{programName.data(), mode.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipeFds[1]);
  if (rc != 0) {
    ::close(pipeFds[0]);
    throw std::runtime_error("cannot start " + helper.string() + ": " + std::strerror(rc));
  }
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + kListTimeout;
  bool timedOut = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd ready{pipeFds[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) == 0) {
      timedOut = true;
      break;
    }
    std::array<char, 65536> buffer{};
    const ssize_t got = ::read(pipeFds[0], buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0 || out.size() > kMaxListBytes) {
      break;
    }
    out.append(buffer.data(), static_cast<std::size_t>(got));
  }
  ::close(pipeFds[0]);
  if (timedOut) {
    ::kill(pid, SIGKILL);  // a registered module hung while loading
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timedOut || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("listing p11-kit's registered modules failed" +
                             std::string(timedOut ? " (it hung)" : ""));
  }
  return out;
}

bool allowedByPolicy(const Policy& policy, const std::string& canonical) {
  return policy.allowedModules.empty() ||
         std::find(policy.allowedModules.begin(), policy.allowedModules.end(), canonical) !=
             policy.allowedModules.end();
}

}  // namespace

fs::path pkcs11HelperProgram() {
  std::array<char, PATH_MAX> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n > 0) {
    const fs::path dir =
        fs::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path();
    // The build tree keeps every program in one directory; an installed prefix
    // keeps the helper in its libexec directory, wherever the prefix is.
    for (const fs::path& candidate :
         {dir / "p2pcp-pkcs11-helper", dir.parent_path() / "libexec/p2pcp/p2pcp-pkcs11-helper"}) {
      if (::access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
  }
  return P2PCP_PKCS11_HELPER_INSTALLED;
}

std::vector<std::string> discoverModules(const Config& config, const Policy& policy,
                                         const fs::path& helperProgram) {
  if (config.module) {
    const std::string path = resolveModulePath(*config.module);
    if (!allowedByPolicy(policy, path)) {
      throw std::runtime_error("policy does not allow the PKCS#11 module " + path);
    }
    logInfo("serving PKCS#11 module " + path);
    return {path};
  }
  std::vector<std::string> paths;
  const nlohmann::json listed = parseStrictJson(runRegisteredListing(helperProgram));
  for (const auto& module : listed) {
    const std::string name = module.value("name", "");
    const std::string reported = module.value("path", "");
    if (module.value("trustPolicy", "") == "yes") {
      logInfo("skipping " + name + ": a trust-policy module holds trust anchors, not keys");
      continue;
    }
    std::error_code ec;
    const fs::path canonical = fs::canonical(reported, ec);
    if (ec) {
      logWarning("skipping registered module " + reported + ": " + ec.message());
      continue;
    }
    if (!allowedByPolicy(policy, canonical.string())) {
      logInfo("policy skips registered PKCS#11 module " + canonical.string());
      continue;
    }
    if (std::find(paths.begin(), paths.end(), canonical.string()) == paths.end()) {
      logInfo("serving registered PKCS#11 module " + name + " (" + canonical.string() + ")");
      paths.push_back(canonical.string());
    }
  }
  return paths;
}

}  // namespace p2pcp::agent
