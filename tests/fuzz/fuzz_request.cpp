// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: one message as the agent socket delivers it, through the
// request parser and the dispatcher (every method's parameter checks) of an
// agent that has no token. Any crash, leak or sanitizer report is a bug; every
// input must produce a well-formed JSON-RPC response.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/consent_store.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/token_service.hpp"

namespace {

p2pcp::agent::Dispatcher& dispatcher() {
  using namespace p2pcp::agent;
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "p2pcp-fuzz.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::abort();
    }
    return std::filesystem::path(pattern);
  }();
  static ConsentStore consents(dir / "consents.json");
  static Config config = [] {
    Config c;
    c.pinentry = "/nonexistent/pinentry";  // prompts fail fast with PINENTRY_FAILED
    return c;
  }();
  static const PolicyHolder policy(Policy{}, "/nonexistent/policy.json");
  static Dialogs dialogs(config);
  static AccessControl access(policy, consents, dialogs);
  static TokenService service(config, policy, {}, "/nonexistent", dialogs);
  static PairingStore pairingStore(dir / "pairings.json");
  static Pairings pairings(pairingStore, dialogs, access);
  static Dispatcher instance(service, access, pairings);
  setLogLevel(LogLevel::Error);
  return instance;
}

}  // namespace

// libFuzzer's entry point: the name is libFuzzer's.
// NOLINTNEXTLINE(readability-identifier-naming)
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = p2pcp::agent::parseRequest(text);
  nlohmann::json reply;
  if (auto* request = std::get_if<p2pcp::agent::Request>(&parsed)) {
    reply = dispatcher().handle(*request);
  } else {
    reply = std::get<nlohmann::json>(parsed);
  }
  if (!reply.is_object() || reply.value("jsonrpc", "") != "2.0" ||
      (reply.contains("result") == reply.contains("error"))) {
    std::abort();
  }
  (void)reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
