// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/dispatcher.hpp"

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/extension_id.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/json_parse.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/no_wait.hpp"
#include "p2pcp/agent/origin.hpp"

namespace p2pcp::agent {

using nlohmann::json;

std::variant<Request, json> parseRequest(std::string_view text) {
  json doc;
  try {
    doc = parseStrictJson(text);
  } catch (const JsonParseError& e) {
    // Too deep or a key twice is a well-formed but unacceptable request; anything
    // else is not JSON at all.
    const ErrorCode code =
        e.kind() == JsonParseError::Kind::Syntax ? ErrorCode::ParseError : ErrorCode::BadRequest;
    return errorResponse(nullptr, AgentError(code, e.what()));
  }
  if (!doc.is_object()) {
    return errorResponse(nullptr,
                         AgentError(ErrorCode::BadRequest, "a request must be a JSON object"));
  }
  json id = doc.contains("id") ? std::move(doc["id"]) : json(nullptr);
  if (!id.is_null() && !id.is_string() && !id.is_number_integer()) {
    return errorResponse(nullptr,
                         AgentError(ErrorCode::BadRequest, "id must be an integer or a string"));
  }
  if (id.is_string() && id.get_ref<const std::string&>().size() > 256) {
    return errorResponse(nullptr, AgentError(ErrorCode::BadRequest, "id is too long"));
  }
  const auto fail = [&](const std::string& message) {
    return errorResponse(id, AgentError(ErrorCode::BadRequest, message));
  };
  if (doc.value("jsonrpc", json()) != "2.0") {
    return fail("jsonrpc must be \"2.0\"");
  }
  const auto method = doc.find("method");
  if (method == doc.end() || !method->is_string()) {
    return fail("method must be a string");
  }
  Request request;
  request.id = std::move(id);
  request.method = method->get<std::string>();
  if (const auto params = doc.find("params"); params != doc.end()) {
    request.params = std::move(*params);  // moved, never deep-copied: it may be megabytes
  } else {
    request.params = json::object();
  }
  if (!request.params.is_object()) {
    return fail("params must be an object");
  }
  // Caller metadata: set by the native-messaging host (origin, extension) or the CLI (tty,
  // display).
  for (const auto& [key, value] : doc.items()) {
    if (key == "jsonrpc" || key == "id" || key == "method" || key == "params") {
      continue;
    }
    if (!value.is_string() || value.get_ref<const std::string&>().size() > 512) {
      return fail("member \"" + key.substr(0, 32) + "\" must be a short string");
    }
    const auto& member = value.get_ref<const std::string&>();
    if (key == "origin") {
      // A page's origin: http(s) as the browser reports it. The extension's own
      // pages are not a page origin: the host marks them with "extension" alone.
      if (!isCanonicalWebOrigin(member)) {
        return fail("origin is not a web origin as browsers report it");
      }
      request.caller.origin = member;
    } else if (key == "extension") {
      if (!isChromiumExtensionId(member) && !isFirefoxAddOnId(member)) {
        return fail("extension is not a browser extension id");
      }
      request.caller.extension = member;
    } else if (key == "tty") {
      request.caller.ttyName = member;
    } else if (key == "display") {
      request.caller.display = member;
    } else {
      return fail("unknown member \"" + key.substr(0, 32) + "\"");
    }
  }
  if (request.caller.origin) {
    request.caller.kind = CallerKind::Page;
  } else if (request.caller.extension) {
    request.caller.kind = CallerKind::Extension;
  }
  return request;
}

namespace {

// What still works while the policy is malformed: what only informs (so the
// person and `p2pcp status` can see the problem) or takes access away.
bool worksWithoutPolicy(std::string_view method) {
  return method == "hello" || method == "subscribe" || method == "status" || method == "lock" ||
         method == "listConsents" || method == "revokeConsent" || method == "listPairings" ||
         method == "revokePairing";
}

// What a front-door page may call before its origin is paired.
bool worksUnpaired(std::string_view method) {
  return method == "hello" || method == "pair";
}

std::string_view callerWords(CallerKind kind) {
  switch (kind) {
    case CallerKind::Page:
      return "web pages";
    case CallerKind::Extension:
      return "the browser extension";
    case CallerKind::Local:
      break;
  }
  return "local programs";
}

}  // namespace

json Dispatcher::respond(const Request& request, const Handler* handler) {
  try {
    try {
      const Caller& caller = request.caller;
      // Before anything else, unknown methods too: an unpaired page learns
      // nothing from the front door but that it must pair.
      if (!worksUnpaired(request.method)) {
        requirePaired(caller, "");
      }
      const MethodAccess* access = findMethodAccess(request.method);
      if (handler == nullptr || access == nullptr) {
        throw AgentError(ErrorCode::MethodNotFound,
                         "unknown method \"" + request.method.substr(0, 64) + "\"");
      }
      if (!mayEverCall(caller.kind, *access, caller.viaWebSocket)) {
        throw AgentError(ErrorCode::NotAllowedByPolicy, "\"" + request.method +
                                                            "\" is not available to " +
                                                            std::string(callerWords(caller.kind)));
      }
      if (!worksWithoutPolicy(request.method)) {
        (void)access_.policy().current();  // fail closed while the policy is malformed
      }
      // Local programs act as the person; the extension's pages reach no p2pcp
      // operation (the table keeps them out), so their grade never matters.
      Grade grade = caller.kind == CallerKind::Local ? Grade::Full : Grade::None;
      if (caller.isPage()) {
        grade = access_.admit(caller, access->page);
      }
      RequestNotify notify;
      if (request.notify) {
        notify = [&request](const std::string& method, json params) {
          params["id"] = request.id;
          request.notify(
              json{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
        };
      }
      RequestContext context{tokens_, access_, caller, grade, pairings_, std::move(notify)};
      json result = handler->run(context, request.params);
      if (!worksUnpaired(request.method)) {
        requirePaired(caller, " while the request waited; nothing was returned");
      }
      if (caller.isPage() && access->page != PageRule::Open &&
          access->page != PageRule::FrontDoor) {
        requireStillAdmitted(caller, grade);
      }
      return resultResponse(request.id, std::move(result));
    } catch (const AgentError& error) {
      if (request.caller.isPage() && error.data().contains("token")) {
        // The token's URI names its label and serial: nothing a page may learn.
        json data = error.data();
        data.erase("token");
        throw AgentError(error.code(), error.what(), std::move(data));
      }
      throw;
    } catch (const MustNotWait&) {
      throw;  // the caller runs the request again on a thread that may wait
    } catch (...) {
      rethrowAsAgentError();
    }
  } catch (const AgentError& error) {
    if (error.code() == ErrorCode::Internal) {
      logError("request " + request.method + " failed: " + error.what());
    }
    return errorResponse(request.id, error);
  }
}

void Dispatcher::requireStillAdmitted(const Caller& caller, Grade admitted) const {
  // A request may have waited for a dialog or the token for a long time; if the
  // person revoked or lowered the page's access meanwhile, its result is not
  // the page's any more.
  const Standing now = access_.standingOf(caller.origin.value());
  if (now.refusal || static_cast<int>(now.grade) < static_cast<int>(admitted)) {
    throw AgentError(ErrorCode::ConsentDenied,
                     "the access of " + *caller.origin +
                         " was revoked while the request waited; nothing was returned",
                     {{"access", gradeName(now.grade)}});
  }
}

bool Dispatcher::passesPairingGate(const Caller& caller) const {
  // A front-door caller is always a page of its Origin header; without one,
  // nothing can be paired.
  return !caller.viaWebSocket ||
         (caller.isPage() && caller.origin && pairings_.isPaired(*caller.origin));
}

void Dispatcher::requirePaired(const Caller& caller, std::string_view why) const {
  if (!passesPairingGate(caller)) {
    const std::string origin = caller.origin.value_or("this page");
    throw AgentError(ErrorCode::NotPaired,
                     why.empty() ? "this page is not paired with the key agent; call pair first"
                                 : "the pairing of " + origin + " was revoked" + std::string(why));
  }
}

std::optional<json> Dispatcher::eventFor(const Caller& subscriber,
                                         const json& event) const noexcept {
  try {
    switch (subscriber.kind) {
      case CallerKind::Local:
        return event;
      case CallerKind::Extension:
        return json{{"jsonrpc", "2.0"}, {"method", event.at("method")}, {"params", json::object()}};
      case CallerKind::Page: {
        if (subscriber.viaWebSocket &&
            (!subscriber.origin || !pairings_.isPaired(*subscriber.origin))) {
          return std::nullopt;
        }
        const Standing standing = access_.standingOf(subscriber.origin.value());
        if (standing.refusal || standing.grade == Grade::None) {
          return std::nullopt;
        }
        return json{{"jsonrpc", "2.0"},
                    {"method", event.at("method")},
                    {"params", json::object()},
                    {"origin", *subscriber.origin}};
      }
    }
  } catch (...) {
    // A malformed event or a consent store failure: send nothing rather than too much.
  }
  return std::nullopt;
}

json Dispatcher::handle(const Request& request) noexcept {
  try {
    return respond(request, findHandler(request.method));
  } catch (...) {
    // respond() turns every failure into an AgentError reply; this is the last line of
    // defence (and MustNotWait cannot arise: this thread may wait).
    return errorResponse(request.id, AgentError(ErrorCode::Internal, "internal error"));
  }
}

std::optional<std::string> Dispatcher::cannedReply(const Request& request) {
  // The caller table lets every caller call hello; its result for these
  // callers depends on nothing but their kind (handleHello).
  if (request.method != "hello" || request.caller.isPage() || !request.params.empty()) {
    return std::nullopt;
  }
  // The members in the order json::dump writes them.
  std::string text = R"({"id":)";
  text += request.id.dump();
  text += R"(,"jsonrpc":"2.0","result":)";
  text += helloResultText(request.caller.kind);
  text += '}';
  return text;
}

std::optional<json> Dispatcher::tryHandleQuickly(const Request& request) noexcept {
  const Handler* handler = findHandler(request.method);
  if (handler != nullptr && handler->duration == Duration::Long) {
    return std::nullopt;
  }
  const NoWaitScope noWait;
  try {
    return respond(request, handler);
  } catch (const MustNotWait&) {
    return std::nullopt;
  } catch (...) {
    return errorResponse(request.id, AgentError(ErrorCode::Internal, "internal error"));
  }
}

}  // namespace p2pcp::agent
