// SPDX-License-Identifier: Apache-2.0
// The baseline for bench/browser_bench.mjs: the most trivial native-messaging
// host, which sends every message straight back with an empty "result" added
// (so that the page API takes it as an answer). Whatever the browser path
// itself costs (extension, Chromium's pipes, process start-up), this pays too.
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

bool readAll(void* buffer, std::size_t n) {
  auto* out = static_cast<char*>(buffer);
  while (n > 0) {
    const ssize_t got = ::read(STDIN_FILENO, out, n);
    if (got <= 0) {
      return false;
    }
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool writeAll(const void* buffer, std::size_t n) {
  const auto* in = static_cast<const char*>(buffer);
  while (n > 0) {
    const ssize_t put = ::write(STDOUT_FILENO, in, n);
    if (put <= 0) {
      return false;
    }
    in += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

}  // namespace

int main() {
  // P2PCP_ECHO_DELAY_US: wait this long before each answer, as a host whose
  // backend takes that long would (to tell the browser's wake-up cost apart).
  const char* delayText = std::getenv("P2PCP_ECHO_DELAY_US");  // NOLINT(concurrency-mt-unsafe)
  const long delayUs = delayText != nullptr ? std::strtol(delayText, nullptr, 10) : 0;
  std::vector<char> message;
  for (;;) {
    std::uint32_t length = 0;
    if (!readAll(&length, sizeof length) || length > 1024U * 1024U) {
      return 0;
    }
    message.resize(length);
    if (!readAll(message.data(), length)) {
      return 0;
    }
    if (delayUs > 0) {
      ::usleep(static_cast<useconds_t>(delayUs));
    }
    // {"id":1,...} goes back as {"result":{},"id":1,...}: the request's own
    // members (its id) with an empty result in front.
    static constexpr std::string_view kResult = R"({"result":{},)";
    if (length < 2 || message.front() != '{') {
      return 0;
    }
    const std::uint32_t replyLength = length - 1 + static_cast<std::uint32_t>(kResult.size());
    if (!writeAll(&replyLength, sizeof replyLength) || !writeAll(kResult.data(), kResult.size()) ||
        !writeAll(message.data() + 1, length - 1)) {
      return 0;
    }
  }
}
