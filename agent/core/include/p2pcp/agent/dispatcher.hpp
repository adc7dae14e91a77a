#pragma once
// JSON-RPC 2.0 request parsing and method dispatch. One handler per method;
// the method name is looked up once; every failure becomes a typed error.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_rpc.hpp"
#include "p2pcp/agent/token_service.hpp"

namespace p2pcp::agent {

struct Handler;

inline constexpr int kProtocolVersion = 1;

struct Request {
  nlohmann::json id;  // number, string or null
  std::string method;
  nlohmann::json params;
  Caller caller;
};

// Parses one message. A JSON-RPC notification (no id) from a client is answered
// like a request with id null, so a mistake is never silently swallowed.
// On failure returns the error response to send.
std::variant<Request, nlohmann::json> parseRequest(std::string_view text);

class Dispatcher {
 public:
  explicit Dispatcher(TokenService& service) : service_(service) {}
  // Runs the method; never throws: every failure is an error response.
  nlohmann::json handle(const Request& request) noexcept;
  // Runs a short method without waiting for anything. nullopt when the method
  // may take long, or the request would wait for the person (PIN, consent, PIN
  // pad) or for a token another thread is using: run it with handle() on a
  // thread that may wait (no_wait.hpp).
  std::optional<nlohmann::json> tryHandleQuickly(const Request& request) noexcept;
  static const std::vector<std::string>& methodNames();

 private:
  // `handler` is the method's entry, or nullptr for an unknown method.
  nlohmann::json respond(const Request& request, const Handler* handler);
  TokenService& service_;
};

}  // namespace p2pcp::agent
