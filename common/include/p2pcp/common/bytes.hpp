// SPDX-License-Identifier: Apache-2.0
#pragma once
// Byte containers. Anything that may hold a PIN, a root secret or a key
// derived from it uses SecureBytes, whose memory is wiped before it is freed.

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace p2pcp {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// An allocator that wipes memory with OPENSSL_cleanse before releasing it, so
// secrets do not linger in freed heap blocks (and the wipe is not optimised away).
template <typename T>
struct CleansingAllocator {
  using value_type = T;
  CleansingAllocator() noexcept = default;
  template <typename U>
  explicit CleansingAllocator(const CleansingAllocator<U>& /*other*/) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    OPENSSL_cleanse(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <typename U>
  bool operator==(const CleansingAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

using SecureBytes = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;
using SecureString = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;

inline ByteView asBytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline std::string_view asChars(ByteView b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Appends bytes to any byte vector (plain or secure).
template <typename Vec>
void append(Vec& out, ByteView in) {
  out.insert(out.end(), in.begin(), in.end());
}
template <typename Vec>
void append(Vec& out, std::string_view in) {
  append(out, asBytes(in));
}

// Constant-time comparison for secrets and MACs.
inline bool equalConstantTime(ByteView a, ByteView b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace p2pcp
