// SPDX-License-Identifier: Apache-2.0
#include "ssh_agent_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <span>
#include <utility>

namespace p2pcp::bench {

namespace {

// Message numbers of the agent protocol.
constexpr std::uint8_t kFailure = 5;               // SSH_AGENT_FAILURE
constexpr std::uint8_t kRequestIdentities = 11;    // SSH2_AGENTC_REQUEST_IDENTITIES
constexpr std::uint8_t kIdentitiesAnswer = 12;     // SSH2_AGENT_IDENTITIES_ANSWER
constexpr std::uint8_t kSignRequest = 13;          // SSH2_AGENTC_SIGN_REQUEST
constexpr std::uint8_t kSignResponse = 14;         // SSH2_AGENT_SIGN_RESPONSE
constexpr std::uint32_t kMaxMessage = 256 * 1024;  // ssh-agent's own limit

std::string systemError(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

void writeAll(int fd, ByteView bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw SshAgentError(systemError("writing to ssh-agent"));
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

void readAll(int fd, std::span<std::uint8_t> into) {
  while (!into.empty()) {
    const ssize_t n = ::read(fd, into.data(), into.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw SshAgentError(systemError("reading from ssh-agent"));
    }
    if (n == 0) {
      throw SshAgentError("ssh-agent closed the connection");
    }
    into = into.subspan(static_cast<std::size_t>(n));
  }
}

std::uint32_t bigEndian32(ByteView b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    UniqueFd old(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

int UniqueFd::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void putU32(Bytes& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

void putString(Bytes& out, ByteView value) {
  putU32(out, static_cast<std::uint32_t>(value.size()));
  append(out, value);
}

std::uint32_t SshReader::u32() {
  if (data_.size() < 4) {
    throw SshAgentError("truncated uint32 in an ssh-agent message");
  }
  const std::uint32_t value = bigEndian32(data_);
  data_ = data_.subspan(4);
  return value;
}

ByteView SshReader::string() {
  const std::uint32_t length = u32();
  if (data_.size() < length) {
    throw SshAgentError("truncated string in an ssh-agent message");
  }
  const ByteView value = data_.first(length);
  data_ = data_.subspan(length);
  return value;
}

SshAgentClient::SshAgentClient(const std::filesystem::path& socket)
    : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (fd_.get() < 0) {
    throw SshAgentError(systemError("socket"));
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof address.sun_path) {
    throw SshAgentError("ssh-agent socket path too long: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw SshAgentError(systemError(("connecting to " + path).c_str()));
  }
}

std::pair<std::uint8_t, Bytes> SshAgentClient::transact(std::uint8_t type, ByteView payload) {
  Bytes request;
  request.reserve(5 + payload.size());
  putU32(request, static_cast<std::uint32_t>(1 + payload.size()));
  request.push_back(type);
  append(request, payload);
  writeAll(fd_.get(), request);

  std::array<std::uint8_t, 4> header{};
  readAll(fd_.get(), header);
  const std::uint32_t length = bigEndian32(header);
  if (length == 0 || length > kMaxMessage) {
    throw SshAgentError("ssh-agent answered with a bad length: " + std::to_string(length));
  }
  Bytes body(length);
  readAll(fd_.get(), body);
  return {body[0], Bytes(body.begin() + 1, body.end())};
}

std::vector<SshIdentity> SshAgentClient::identities() {
  const auto [type, payload] = transact(kRequestIdentities, {});
  if (type != kIdentitiesAnswer) {
    throw SshAgentError("ssh-agent answered REQUEST_IDENTITIES with type " + std::to_string(type));
  }
  SshReader reader(payload);
  const std::uint32_t count = reader.u32();
  std::vector<SshIdentity> keys;
  for (std::uint32_t i = 0; i < count; ++i) {
    const ByteView blob = reader.string();
    const ByteView comment = reader.string();
    keys.push_back({Bytes(blob.begin(), blob.end()), std::string(asChars(comment))});
  }
  return keys;
}

Bytes SshAgentClient::sign(ByteView keyBlob, ByteView data, std::uint32_t flags) {
  Bytes payload;
  payload.reserve(12 + keyBlob.size() + data.size());
  putString(payload, keyBlob);
  putString(payload, data);
  putU32(payload, flags);
  const auto [type, answer] = transact(kSignRequest, payload);
  if (type == kFailure) {
    throw SshAgentError("ssh-agent refused to sign (SSH_AGENT_FAILURE)");
  }
  if (type != kSignResponse) {
    throw SshAgentError("ssh-agent answered SIGN_REQUEST with type " + std::to_string(type));
  }
  SshReader reader(answer);
  const ByteView signature = reader.string();
  return {signature.begin(), signature.end()};
}

}  // namespace p2pcp::bench
