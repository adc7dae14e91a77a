// SPDX-License-Identifier: Apache-2.0
#pragma once
// JSON-RPC 2.0 request parsing and method dispatch. The method is looked up
// once, in the caller table (access.hpp) and the handler table; the caller's
// right to call it is checked before its handler runs; every failure becomes
// a typed error.

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_rpc.hpp"
#include "p2pcp/agent/pairings.hpp"
#include "p2pcp/agent/token_service.hpp"

namespace p2pcp::agent {

struct Handler;

inline constexpr int kProtocolVersion = 1;

struct Request {
  nlohmann::json id;  // number, string or null
  std::string method;
  nlohmann::json params;
  Caller caller;
  // Sends a whole JSON-RPC notification on the connection the request came on
  // and returns once it is queued there (the WebSocket front door sets it;
  // the Unix socket never does). The dispatcher hands handlers a form that
  // tags the notification with this request's id.
  std::function<void(const nlohmann::json& message)> notify;
};

// Parses one message. A JSON-RPC notification (no id) from a client is answered
// like a request with id null, so a mistake is never silently swallowed.
// On failure returns the error response to send.
std::variant<Request, nlohmann::json> parseRequest(std::string_view text);

class Dispatcher {
 public:
  Dispatcher(TokenService& tokens, AccessControl& access, Pairings& pairings)
      : tokens_(tokens), access_(access), pairings_(pairings) {}
  // Runs the method; never throws: every failure is an error response.
  nlohmann::json handle(const Request& request) noexcept;
  // Runs a short method without waiting for anything. nullopt when the method
  // may take long, or the request would wait for the person (PIN, consent, PIN
  // pad) or for a token another thread is using: run it with handle() on a
  // thread that may wait (no_wait.hpp).
  std::optional<nlohmann::json> tryHandleQuickly(const Request& request) noexcept;
  // The whole reply as JSON text when it is the same every time: a bare
  // `hello` (no params) from a local program or the extension, which clients
  // send to check the agent is there. nullopt: dispatch it as usual.
  [[nodiscard]] static std::optional<std::string> cannedReply(const Request& request);
  // What a subscriber receives of a token event: local programs the event as it
  // is; web pages only while their origin holds site or full access, and then
  // without the token's identity (no serial, no label), tagged with the
  // origin it is for; the extension's pages the same without an origin; a
  // page of the WebSocket front door nothing until its origin is paired.
  // nullopt: nothing for this subscriber.
  [[nodiscard]] std::optional<nlohmann::json> eventFor(const Caller& subscriber,
                                                       const nlohmann::json& event) const noexcept;
  // Whether the pairing gate lets the caller through to more than hello and
  // pair: a page of the WebSocket front door once its origin is paired, every
  // other caller always.
  [[nodiscard]] bool passesPairingGate(const Caller& caller) const;

 private:
  // `handler` is the method's entry, or nullptr for an unknown method.
  nlohmann::json respond(const Request& request, const Handler* handler);
  // Throws ConsentDenied when the page's origin no longer holds `admitted`.
  void requireStillAdmitted(const Caller& caller, Grade admitted) const;
  // Throws NotPaired when the caller is a front-door page whose origin is not paired.
  void requirePaired(const Caller& caller, std::string_view why) const;
  TokenService& tokens_;
  AccessControl& access_;
  Pairings& pairings_;
};

}  // namespace p2pcp::agent
