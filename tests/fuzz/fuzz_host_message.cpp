// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: what a browser extension sends the native host. Must end
// in a JSON-RPC request that holds only id, method, params, the extension's
// id and (for a page) a web origin, for a method that kind of caller may use,
// or in a typed error reply; never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/host/browser_message.hpp"

// libFuzzer's entry point: the name is libFuzzer's.
// NOLINTNEXTLINE(readability-identifier-naming)
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const p2pcp::host::BrowserCaller caller{p2pcp::host::Browser::Chromium,
                                                 "hpncikinbmmcogikfdckffepdimmcaaa"};
  const auto translated = p2pcp::host::toAgentRequest(text, caller);
  if (const auto* request = std::get_if<p2pcp::host::AgentRequest>(&translated)) {
    for (const auto& [key, value] : request->message.items()) {
      if (key != "jsonrpc" && key != "id" && key != "method" && key != "params" &&
          key != "origin" && key != "extension") {
        std::abort();  // something else would reach the agent
      }
    }
    if (request->message.value("extension", "") != caller.extensionId) {
      std::abort();  // an unmarked browser request
    }
    const auto* access =
        p2pcp::agent::findMethodAccess(request->message["method"].get<std::string>());
    const auto kind = request->message.contains("origin") ? p2pcp::agent::CallerKind::Page
                                                          : p2pcp::agent::CallerKind::Extension;
    if (access == nullptr || !p2pcp::agent::mayEverCall(kind, *access)) {
      std::abort();  // a method this caller may not use was relayed
    }
  } else if (!std::get<p2pcp::host::ErrorReply>(translated).message.contains("error")) {
    std::abort();
  }
  return 0;
}
