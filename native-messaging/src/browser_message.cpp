#include "p2pcp/host/browser_message.hpp"

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_rpc.hpp"
#include "p2pcp/agent/origin.hpp"

namespace p2pcp::host {

using agent::AgentError;
using agent::ErrorCode;
using nlohmann::json;

std::variant<AgentRequest, ErrorReply> toAgentRequest(std::string_view text) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return ErrorReply{agent::errorResponse(
        nullptr, AgentError(ErrorCode::ParseError, "the message is not valid JSON"))};
  }
  if (!doc.is_object()) {
    return ErrorReply{agent::errorResponse(
        nullptr, AgentError(ErrorCode::BadRequest, "a message must be a JSON object"))};
  }
  const json id = doc.value("id", json());
  if (!id.is_number_integer() && !id.is_string()) {
    return ErrorReply{agent::errorResponse(
        nullptr, AgentError(ErrorCode::BadRequest, "id must be an integer or a string"))};
  }
  const auto fail = [&](const std::string& message) {
    return ErrorReply{agent::errorResponse(id, AgentError(ErrorCode::BadRequest, message))};
  };
  for (const auto& [key, value] : doc.items()) {
    if (key != "id" && key != "method" && key != "params" && key != "origin") {
      return fail("unknown member \"" + key.substr(0, 32) + "\"");
    }
  }
  const auto method = doc.find("method");
  if (method == doc.end() || !method->is_string()) {
    return fail("method must be a string");
  }
  json request = {{"jsonrpc", "2.0"}, {"id", id}, {"method", *method}};
  if (const auto params = doc.find("params"); params != doc.end()) {
    if (!params->is_object()) {
      return fail("params must be an object");
    }
    request["params"] = *params;
  }
  if (const auto origin = doc.find("origin"); origin != doc.end()) {
    if (!origin->is_string() || !agent::isValidOrigin(origin->get<std::string>())) {
      return fail("origin is not a web origin");
    }
    request["origin"] = *origin;
  }
  return AgentRequest{std::move(request)};
}

}  // namespace p2pcp::host
