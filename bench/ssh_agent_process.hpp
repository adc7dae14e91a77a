// SPDX-License-Identifier: Apache-2.0
#pragma once
// OpenSSH's ssh-agent as a child of the benchmark, serving a PKCS#11 token
// through its ssh-pkcs11-helper: the setup people use today, measured in the
// same run as p2pcp-agent on the same token.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace p2pcp::bench {

class SshAgentProcess {
 public:
  // Why the comparison cannot run (openssh-client missing), or nothing.
  static std::optional<std::string> missingPrerequisite();

  // Starts `ssh-agent -D -a <dir>/ssh-agent.sock` with this process's
  // environment (so its PKCS#11 helper sees SOFTHSM2_CONF) and waits until it
  // listens; its output goes to <dir>/ssh-agent.log. Throws std::runtime_error.
  explicit SshAgentProcess(const std::filesystem::path& dir);
  SshAgentProcess(const SshAgentProcess&) = delete;
  SshAgentProcess& operator=(const SshAgentProcess&) = delete;
  SshAgentProcess(SshAgentProcess&&) = delete;
  SshAgentProcess& operator=(SshAgentProcess&&) = delete;
  // Stops the agent by its pid (SIGTERM, then SIGKILL after a deadline); its
  // helper exits when the agent closes their socket pair.
  ~SshAgentProcess();

  // `ssh-add -s module`: ssh-agent starts ssh-pkcs11-helper for `module` and
  // logs in with `pin`, which ssh-add reads from a throwaway askpass script
  // (SSH_ASKPASS_REQUIRE=force; deleted afterwards). Throws std::runtime_error
  // with ssh-add's output when the provider is not added.
  void addPkcs11Provider(const std::string& module, const std::string& pin);

  [[nodiscard]] const std::filesystem::path& socket() const noexcept { return socket_; }
  [[nodiscard]] std::string log() const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path socket_;
  pid_t pid_ = -1;
};

}  // namespace p2pcp::bench
