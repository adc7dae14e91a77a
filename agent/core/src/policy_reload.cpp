// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/policy_reload.hpp"

#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/module_discovery.hpp"

namespace p2pcp::agent {

PolicyReloader::PolicyReloader(PolicyHolder& holder, AccessControl& access, TokenService& tokens,
                               Config config, std::filesystem::path helperProgram)
    : holder_(holder),
      access_(access),
      tokens_(tokens),
      config_(std::move(config)),
      helperProgram_(std::move(helperProgram)),
      loaded_(signature()) {}

PolicyReloader::Signature PolicyReloader::signature() const {
  struct stat link {};
  struct stat file {};
  const std::string path = holder_.file().string();
  if (::lstat(path.c_str(), &link) != 0) {
    return {};
  }
  if (::stat(path.c_str(), &file) != 0) {
    file = {};  // a dangling symlink: the link's own identity still tells changes apart
  }
  return {true,
          file.st_dev,
          file.st_ino,
          file.st_size,
          file.st_mtim.tv_sec * 1'000'000'000L + file.st_mtim.tv_nsec,
          file.st_ctim.tv_sec * 1'000'000'000L + file.st_ctim.tv_nsec,
          link.st_ino};
}

bool PolicyReloader::changedOnDisk() const {
  // Called on the I/O thread: never wait for a reload that is running (it
  // records what it read when it is done).
  const std::unique_lock lock(mutex_, std::try_to_lock);
  return lock.owns_lock() && signature() != loaded_;
}

void PolicyReloader::reload(const std::string& why) noexcept {
  const std::scoped_lock lock(mutex_);
  loaded_ = signature();
  const std::string file = holder_.file().string();
  try {
    Policy policy = Policy::load(holder_.file());
    const bool wasMalformed = holder_.problem().has_value();
    // The rules (origins, rawSigning, keyGeneration, PIN cache) apply first: the
    // module scan below starts a helper and may take seconds, and a tightened
    // policy must not wait for it.
    holder_.replace(policy);
    const auto revoked = access_.revokeDisallowed();
    std::vector<std::string> modules;
    try {
      modules = discoverModules(config_, policy, helperProgram_);
    } catch (const std::exception& e) {
      // The person's own module (agent.json, $P2PCP_PKCS11_MODULE) is no longer
      // allowed: serve none rather than fall back to others.
      logWarning(std::string("serving no PKCS#11 module: ") + e.what());
    }
    tokens_.useModules(modules);
    logInfo("policy reloaded from " + file + " (" + why + ")" +
            (wasMalformed ? ": well-formed again, requests are served" : "") +
            (revoked.empty() ? "" : "; revoked " + std::to_string(revoked.size()) + " consent(s)"));
  } catch (const std::exception& e) {
    holder_.markMalformed(e.what());
    logError("policy reload (" + why + ") failed: " + e.what() +
             "; refusing policy-governed requests until the file is fixed");
    try {
      tokens_.lockAll();
    } catch (const std::exception& lockError) {
      logError(std::string("lock failed: ") + lockError.what());
    }
  }
}

}  // namespace p2pcp::agent
