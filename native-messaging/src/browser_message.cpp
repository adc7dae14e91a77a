// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/host/browser_message.hpp"

#include <algorithm>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_parse.hpp"
#include "p2pcp/agent/json_rpc.hpp"
#include "p2pcp/agent/origin.hpp"

namespace p2pcp::host {

using agent::AgentError;
using agent::CallerKind;
using agent::ErrorCode;
using nlohmann::json;

namespace {

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// 8-4-4-4-12 lower-case hex digits.
bool isUuid(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (const std::size_t dash : {8U, 13U, 18U, 23U}) {
    if (text[dash] != '-') {
      return false;
    }
  }
  std::string digits(text);
  std::erase(digits, '-');
  return digits.size() == 32 && isLowerHex(digits);
}

}  // namespace

bool isOwnExtensionOrigin(std::string_view origin, const BrowserCaller& caller) {
  switch (caller.browser) {
    case Browser::Chromium:
      return origin == "chrome-extension://" + caller.extensionId;
    case Browser::Firefox: {
      constexpr std::string_view kScheme = "moz-extension://";
      return origin.starts_with(kScheme) && isUuid(origin.substr(kScheme.size()));
    }
  }
  return false;
}

std::variant<AgentRequest, ErrorReply> toAgentRequest(std::string_view text,
                                                      const BrowserCaller& caller) {
  json doc;
  try {
    doc = agent::parseStrictJson(text);
  } catch (const agent::JsonParseError& e) {
    const ErrorCode code = e.kind() == agent::JsonParseError::Kind::Syntax ? ErrorCode::ParseError
                                                                           : ErrorCode::BadRequest;
    return ErrorReply{agent::errorResponse(nullptr, AgentError(code, e.what()))};
  }
  if (!doc.is_object()) {
    return ErrorReply{agent::errorResponse(
        nullptr, AgentError(ErrorCode::BadRequest, "a message must be a JSON object"))};
  }
  json id = doc.contains("id") ? std::move(doc["id"]) : json();
  if ((!id.is_number_integer() && !id.is_string()) ||
      (id.is_string() && id.get_ref<const std::string&>().size() > 256)) {
    return ErrorReply{agent::errorResponse(
        nullptr, AgentError(ErrorCode::BadRequest, "id must be an integer or a short string"))};
  }
  const auto refuse = [&](ErrorCode code, const std::string& message) {
    return ErrorReply{agent::errorResponse(id, AgentError(code, message))};
  };
  for (const auto& [key, value] : doc.items()) {
    if (key != "id" && key != "method" && key != "params" && key != "origin") {
      return refuse(ErrorCode::BadRequest, "unknown member " + agent::quotedForMessage(key, 32));
    }
  }
  const auto method = doc.find("method");
  if (method == doc.end() || !method->is_string()) {
    return refuse(ErrorCode::BadRequest, "method must be a string");
  }
  const auto& name = method->get_ref<const std::string&>();
  const auto origin = doc.find("origin");
  if (origin == doc.end() || !origin->is_string()) {
    // The extension names every sender; a message without one is never relayed,
    // so nothing from the browser can pass for a local program.
    return refuse(ErrorCode::BadRequest,
                  "a message from the browser must name its sender's origin");
  }
  const auto& sender = origin->get_ref<const std::string&>();
  CallerKind kind = CallerKind::Page;
  if (isOwnExtensionOrigin(sender, caller)) {
    kind = CallerKind::Extension;
  } else if (!agent::isCanonicalWebOrigin(sender)) {
    return refuse(ErrorCode::NotAllowedByPolicy,
                  "the sender is neither a web page nor this extension's own page");
  }
  const agent::MethodAccess* access = agent::findMethodAccess(name);
  if (access == nullptr) {
    return refuse(ErrorCode::MethodNotFound, "unknown method " + agent::quotedForMessage(name));
  }
  if (!agent::mayEverCall(kind, *access)) {
    return refuse(ErrorCode::NotAllowedByPolicy,
                  agent::quotedForMessage(name) + " is not available to " +
                      (kind == CallerKind::Page ? "web pages" : "the browser extension"));
  }
  json request = {{"jsonrpc", "2.0"}, {"id", std::move(id)}, {"method", name}};
  if (const auto params = doc.find("params"); params != doc.end()) {
    if (!params->is_object()) {
      return refuse(ErrorCode::BadRequest, "params must be an object");
    }
    request["params"] = std::move(*params);
  }
  request["extension"] = caller.extensionId;
  if (kind == CallerKind::Page) {
    request["origin"] = sender;
  }
  return AgentRequest{std::move(request)};
}

}  // namespace p2pcp::host
