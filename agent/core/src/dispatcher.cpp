#include "p2pcp/agent/dispatcher.hpp"

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/no_wait.hpp"

namespace p2pcp::agent {

using nlohmann::json;

std::variant<Request, json> parseRequest(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return errorResponse(nullptr,
                         AgentError(ErrorCode::ParseError, "the message is not valid JSON"));
  }
  if (!doc.is_object()) {
    return errorResponse(nullptr,
                         AgentError(ErrorCode::BadRequest, "a request must be a JSON object"));
  }
  json id = doc.contains("id") ? doc["id"] : json(nullptr);
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
  request.id = id;
  request.method = method->get<std::string>();
  request.params = doc.contains("params") ? doc["params"] : json::object();
  if (!request.params.is_object()) {
    return fail("params must be an object");
  }
  // Caller metadata set by the native-messaging host (origin) or the CLI (tty, display).
  for (const auto& [key, value] : doc.items()) {
    if (key == "jsonrpc" || key == "id" || key == "method" || key == "params") {
      continue;
    }
    if (!value.is_string() || value.get_ref<const std::string&>().size() > 512) {
      return fail("member \"" + key.substr(0, 32) + "\" must be a short string");
    }
    const auto& member = value.get_ref<const std::string&>();
    if (key == "origin") {
      if (!isValidOrigin(member)) {
        return fail("origin is not a web origin");
      }
      request.caller.origin = member;
    } else if (key == "tty") {
      request.caller.ttyName = member;
    } else if (key == "display") {
      request.caller.display = member;
    } else {
      return fail("unknown member \"" + key.substr(0, 32) + "\"");
    }
  }
  return request;
}

const std::vector<std::string>& Dispatcher::methodNames() {
  return handlerNames();
}

json Dispatcher::respond(const Request& request, const Handler* handler) {
  try {
    try {
      if (handler == nullptr) {
        throw AgentError(ErrorCode::MethodNotFound,
                         "unknown method \"" + request.method.substr(0, 64) + "\"");
      }
      if (request.caller.isPage()) {
        if (handler->access == Access::LocalOnly) {
          throw AgentError(ErrorCode::NotAllowedByPolicy,
                           "\"" + request.method + "\" is not available to web pages");
        }
        if (handler->access == Access::PageWithConsent) {
          service_.requireConsent(request.caller);
        }
      }
      return resultResponse(request.id, handler->run(service_, request.caller, request.params));
    } catch (const AgentError&) {
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

json Dispatcher::handle(const Request& request) noexcept {
  try {
    return respond(request, findHandler(request.method));
  } catch (...) {
    // respond() turns every failure into an AgentError reply; this is the last line of
    // defence (and MustNotWait cannot arise: this thread may wait).
    return errorResponse(request.id, AgentError(ErrorCode::Internal, "internal error"));
  }
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
