// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: one message as the agent socket delivers it, through the
// request parser and the dispatcher (every method's parameter checks) of an
// agent that has no token. Any crash, leak or sanitizer report is a bug; every
// input must produce a well-formed JSON-RPC response.
#include <cstdint>
#include <string_view>

#include "fuzz_agent.hpp"

// libFuzzer's entry point: the name is libFuzzer's.
// NOLINTNEXTLINE(readability-identifier-naming)
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = p2pcp::agent::parseRequest(text);
  nlohmann::json reply;
  if (auto* request = std::get_if<p2pcp::agent::Request>(&parsed)) {
    reply = p2pcp::fuzz::fuzzDispatcher().handle(*request);
  } else {
    reply = std::get<nlohmann::json>(parsed);
  }
  p2pcp::fuzz::requireWellFormedReply(reply);
  return 0;
}
