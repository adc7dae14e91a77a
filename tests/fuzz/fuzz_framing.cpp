// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: a byte stream as a peer might send it, cut into frames
// with both length orders and a small limit. Must end in frames, a clean EOF
// or a FramingError, never a crash or an allocation past the limit.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "p2pcp/common/framing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (const auto order : {p2pcp::LengthOrder::BigEndian, p2pcp::LengthOrder::Native}) {
    const int fd = memfd_create("frames", MFD_CLOEXEC);
    if (fd < 0) {
      std::abort();
    }
    p2pcp::writeFully(fd, data, size);
    ::lseek(fd, 0, SEEK_SET);
    try {
      while (const auto frame = p2pcp::readFrame(fd, order, 4096)) {
        if (frame->size() > 4096) {
          std::abort();
        }
      }
    } catch (const p2pcp::FramingError&) {
      // Oversized or truncated input: the expected outcome for most of it.
    }
    ::close(fd);
  }
  return 0;
}
