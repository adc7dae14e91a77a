// SPDX-License-Identifier: Apache-2.0
#pragma once
// A minimal client of OpenSSH's agent protocol (draft-miller-ssh-agent), for
// comparing p2pcp-agent with ssh-agent on the same token: list the identities
// and ask for signatures, nothing else.

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp::bench {

// Raised for a connection that fails, an answer that does not parse, or a
// refusal (SSH_AGENT_FAILURE) from ssh-agent.
class SshAgentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file descriptor that is closed when it goes out of scope.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  ~UniqueFd();

  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept;

 private:
  int fd_ = -1;
};

struct SshIdentity {
  Bytes keyBlob;  // the public key in SSH wire format
  std::string comment;
};

// Signature flags of SSH2_AGENTC_SIGN_REQUEST.
inline constexpr std::uint32_t kSshAgentRsaSha2_256 = 2;  // SSH_AGENT_RSA_SHA2_256

// One connection to an agent's Unix socket; one request at a time.
class SshAgentClient {
 public:
  // Throws SshAgentError when nothing listens on `socket`.
  explicit SshAgentClient(const std::filesystem::path& socket);

  // SSH2_AGENTC_REQUEST_IDENTITIES: the keys the agent holds.
  std::vector<SshIdentity> identities();

  // SSH2_AGENTC_SIGN_REQUEST: the agent's signature blob (string algorithm,
  // string signature) over `data`; flags 0 for ECDSA, kSshAgentRsaSha2_256 for RSA.
  Bytes sign(ByteView keyBlob, ByteView data, std::uint32_t flags);

 private:
  // Sends one message (type + payload) and returns the answer's type and payload.
  std::pair<std::uint8_t, Bytes> transact(std::uint8_t type, ByteView payload);

  UniqueFd fd_;
};

// Reads SSH wire-format fields from a byte view; throws SshAgentError when one
// runs past the end.
class SshReader {
 public:
  explicit SshReader(ByteView data) noexcept : data_(data) {}
  std::uint32_t u32();
  ByteView string();
  [[nodiscard]] bool atEnd() const noexcept { return data_.empty(); }

 private:
  ByteView data_;
};

// Appends a uint32 (big-endian) or a length-prefixed string in SSH wire format.
void putU32(Bytes& out, std::uint32_t value);
void putString(Bytes& out, ByteView value);

}  // namespace p2pcp::bench
