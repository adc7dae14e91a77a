// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/common/framing.hpp"

#include <openssl/crypto.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>

namespace p2pcp {

std::uint32_t decodeLength(const std::uint8_t* prefix, LengthOrder order) noexcept {
  if (order == LengthOrder::Native) {
    std::uint32_t value = 0;
    std::memcpy(&value, prefix, sizeof value);
    return value;
  }
  return (std::uint32_t{prefix[0]} << 24U) | (std::uint32_t{prefix[1]} << 16U) |
         (std::uint32_t{prefix[2]} << 8U) | std::uint32_t{prefix[3]};
}

void encodeLength(std::uint32_t length, std::uint8_t* prefix, LengthOrder order) noexcept {
  if (order == LengthOrder::Native) {
    std::memcpy(prefix, &length, sizeof length);
    return;
  }
  prefix[0] = static_cast<std::uint8_t>(length >> 24U);
  prefix[1] = static_cast<std::uint8_t>(length >> 16U);
  prefix[2] = static_cast<std::uint8_t>(length >> 8U);
  prefix[3] = static_cast<std::uint8_t>(length);
}

std::string makeFrame(std::string_view payload, LengthOrder order, std::size_t maxSize) {
  if (payload.size() > maxSize || payload.size() > UINT32_MAX) {
    throw FramingError(FramingError::Kind::TooLarge,
                       "message of " + std::to_string(payload.size()) +
                           " bytes exceeds the limit of " + std::to_string(maxSize));
  }
  std::string frame(4 + payload.size(), '\0');
  encodeLength(static_cast<std::uint32_t>(payload.size()),
               reinterpret_cast<std::uint8_t*>(frame.data()), order);
  std::memcpy(frame.data() + 4, payload.data(), payload.size());
  return frame;
}

std::size_t readFully(int fd, void* buffer, std::size_t n) {
  auto* out = static_cast<char*>(buffer);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd, out + done, n - done);
    if (got == 0) {
      break;
    }
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw FramingError(FramingError::Kind::Io,
                         std::string("read failed: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(got);
  }
  return done;
}

void writeFully(int fd, const void* buffer, std::size_t n) {
  const auto* in = static_cast<const char*>(buffer);
  std::size_t done = 0;
  // On a socket, a peer that went away is an error to report, not a SIGPIPE
  // that ends the whole process (the agent writes to helpers that may crash).
  bool socket = true;
  while (done < n) {
    const ssize_t put =
        socket ? ::send(fd, in + done, n - done, MSG_NOSIGNAL) : ::write(fd, in + done, n - done);
    if (put < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (socket && errno == ENOTSOCK) {
        socket = false;
        continue;
      }
      throw FramingError(FramingError::Kind::Io,
                         std::string("write failed: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(put);
  }
}

std::optional<std::uint32_t> readLength(int fd, LengthOrder order) {
  std::array<std::uint8_t, 4> prefix{};
  const std::size_t got = readFully(fd, prefix.data(), prefix.size());
  if (got == 0) {
    return std::nullopt;
  }
  if (got < prefix.size()) {
    throw FramingError(FramingError::Kind::Truncated, "stream ended inside a length prefix");
  }
  return decodeLength(prefix.data(), order);
}

std::string readPayload(int fd, std::uint32_t length) {
  // The buffer grows (geometrically, never past `length`) as bytes arrive: a
  // peer that announces 64 MiB and sends nothing costs us nothing.
  std::string payload;
  while (payload.size() < length) {
    const std::size_t have = payload.size();
    const std::size_t chunk = std::min(kReadChunk, length - have);
    if (payload.capacity() < have + chunk) {
      payload.reserve(
          std::min<std::size_t>(length, std::max(payload.capacity() * 2, have + chunk)));
    }
    payload.resize(have + chunk);
    const std::size_t got = readFully(fd, payload.data() + have, chunk);
    if (got < chunk) {
      throw FramingError(FramingError::Kind::Truncated, "stream ended inside a message");
    }
  }
  return payload;
}

void skipPayload(int fd, std::uint32_t length) {
  std::array<char, kReadChunk> sink{};
  for (std::size_t left = length; left > 0;) {
    const std::size_t chunk = std::min(sink.size(), left);
    if (readFully(fd, sink.data(), chunk) < chunk) {
      throw FramingError(FramingError::Kind::Truncated, "stream ended inside a message");
    }
    left -= chunk;
  }
}

std::optional<std::string> readFrame(int fd, LengthOrder order, std::size_t maxSize) {
  const auto length = readLength(fd, order);
  if (!length) {
    return std::nullopt;
  }
  if (*length > maxSize) {
    throw FramingError(FramingError::Kind::TooLarge, "message of " + std::to_string(*length) +
                                                         " bytes exceeds the limit of " +
                                                         std::to_string(maxSize));
  }
  return readPayload(fd, *length);
}

void writeFrame(int fd, std::string_view payload, LengthOrder order, std::size_t maxSize) {
  std::string frame = makeFrame(payload, order, maxSize);
  // The copy may carry a PIN (to a helper) or a secret result (from one): it
  // is wiped like the payload its caller wipes.
  try {
    writeFully(fd, frame.data(), frame.size());
  } catch (...) {
    OPENSSL_cleanse(frame.data(), frame.size());
    throw;
  }
  OPENSSL_cleanse(frame.data(), frame.size());
}

}  // namespace p2pcp
