// libFuzzer target: what a browser extension sends the native host. Must end
// in a JSON-RPC request that holds only id, method, params and a valid origin,
// or in a typed error reply; never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "p2pcp/host/browser_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto translated = p2pcp::host::toAgentRequest(text);
  if (const auto* request = std::get_if<p2pcp::host::AgentRequest>(&translated)) {
    for (const auto& [key, value] : request->message.items()) {
      if (key != "jsonrpc" && key != "id" && key != "method" && key != "params" &&
          key != "origin") {
        std::abort();  // something else would reach the agent
      }
    }
  } else if (!std::get<p2pcp::host::ErrorReply>(translated).message.contains("error")) {
    std::abort();
  }
  return 0;
}
