// SPDX-License-Identifier: Apache-2.0
#pragma once
// Length-prefixed message framing, shared by the agent socket (big-endian
// length) and the browser's native-messaging pipe (native-endian length).
//
// The length is checked against the caller's maximum *before* any payload
// is buffered, and the buffer then grows only as bytes arrive, so a peer
// cannot make us allocate what it claims.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace p2pcp {

enum class LengthOrder { BigEndian, Native };

// Agent socket limits: a request may carry a block of up to 64 MiB (the
// browser's own cap towards the host); replies are small.
inline constexpr std::size_t kMaxAgentMessage = std::size_t{64} * 1024U * 1024U;
// What a browser request (through the native host) may carry: a page sends
// blocks of up to 2 MiB inline as base64, or the SHA-256 of a bigger block;
// replies to the browser are capped at 1 MiB by the browser anyway.
inline constexpr std::size_t kMaxBrowserMessage = std::size_t{4} * 1024U * 1024U;

class FramingError : public std::runtime_error {
 public:
  enum class Kind { TooLarge, Truncated, Io };
  FramingError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

std::uint32_t decodeLength(const std::uint8_t* prefix, LengthOrder order) noexcept;
void encodeLength(std::uint32_t length, std::uint8_t* prefix, LengthOrder order) noexcept;

// Builds one frame (prefix + payload). Throws FramingError(TooLarge) above maxSize.
std::string makeFrame(std::string_view payload, LengthOrder order, std::size_t maxSize);

// How much a reader's buffer grows per read.
inline constexpr std::size_t kReadChunk = std::size_t{64} * 1024U;

// Blocking read of one frame from fd. Returns nullopt on a clean end of stream
// before the first prefix byte; throws FramingError on oversize, truncation or I/O error.
std::optional<std::string> readFrame(int fd, LengthOrder order, std::size_t maxSize);

// The parts of readFrame, for a reader that decides per length (the native
// host skips a frame too large to keep). readLength: nullopt on a clean end of
// stream, FramingError(Truncated) inside the prefix. readPayload reads
// `length` bytes into a buffer grown as they arrive; skipPayload reads and
// drops them in chunks. Both throw FramingError(Truncated) at an early end.
std::optional<std::uint32_t> readLength(int fd, LengthOrder order);
std::string readPayload(int fd, std::uint32_t length);
void skipPayload(int fd, std::uint32_t length);

// Blocking write of one whole frame; throws FramingError on I/O error or oversize.
void writeFrame(int fd, std::string_view payload, LengthOrder order, std::size_t maxSize);

// Reads exactly n bytes; returns the count read before EOF (short only at EOF).
std::size_t readFully(int fd, void* buffer, std::size_t n);
// Writes all n bytes, retrying on EINTR and short writes; throws FramingError(Io).
void writeFully(int fd, const void* buffer, std::size_t n);

}  // namespace p2pcp
