// SPDX-License-Identifier: Apache-2.0
// hello, subscribe, status, tokens, keys, login, lock, key generation.
#include <unistd.h>

#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/front_door_status.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/json_codec.hpp"
#include "p2pcp/agent/params.hpp"
#include "p2pcp/agent/version.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/common/framing.hpp"
#include "p2pcp/scheme/scheme.hpp"
#include "scheme_ops.hpp"

namespace p2pcp::agent {

using nlohmann::json;

namespace {

bool rawSigningAllowed(const RequestContext& context) {
  const auto policy = context.tokens.policyHolder().tryCurrent();
  return policy && policy->rawSigning;
}

json describeChosen(const std::optional<ChosenKey>& key) {
  if (!key) {
    return nullptr;
  }
  return {{"label", key->label}, {"fingerprint", key->fingerprint}, {"uri", key->uri}};
}

// What a page learns of a key: never the token's label or serial (in the URIs)
// unless it holds full access.
json keyForPage(json entry, Grade grade) {
  json shown = {{"label", std::move(entry["label"])},
                {"type", std::move(entry["type"])},
                {"fingerprint", std::move(entry["fingerprint"])},
                {"default", entry["default"]}};
  if (grade == Grade::Full) {
    shown["uri"] = std::move(entry["uri"]);
    shown["tokenUri"] = std::move(entry["tokenUri"]);
  }
  return shown;
}

// Nothing here identifies the person or their token: every page may ask.
json helloResult(CallerKind kind, std::vector<std::string> methods) {
  return {{"agent", "p2pcp-agent"},
          {"version", kAgentVersion},
          {"protocol", kProtocolVersion},
          {"methods", std::move(methods)},
          {"notifications", {"tokenInserted", "tokenRemoved"}},
          {"keyTypes", {"rsa", "ec-p256", "ec-p384", "ed25519"}},
          {"maxRequestBytes", kind == CallerKind::Local ? kMaxAgentMessage : kMaxBrowserMessage},
          {"batchLimits", batchLimits()}};
}

}  // namespace

json handleHello(RequestContext& context, const json& params) {
  const Params p(params, {"client", "protocol"});
  if (p.has("protocol") && p.u64("protocol") != kProtocolVersion) {
    throw AgentError(ErrorCode::Unsupported,
                     "this agent speaks protocol version " + std::to_string(kProtocolVersion),
                     {{"protocol", kProtocolVersion}});
  }
  if (!context.caller.isPage()) {
    return helloResult(context.caller.kind, methodsFor(context.caller.kind));
  }
  const bool viaWebSocket = context.caller.viaWebSocket;
  if (viaWebSocket && !context.pairings.isPaired(context.caller.origin.value())) {
    // Before pairing the front door says nothing about the person: no grade
    // (from consent or policy), nothing that depends on them.
    json hello = helloResult(context.caller.kind, {"hello", "pair"});
    hello["notifications"].push_back("pairingCode");
    hello["paired"] = false;
    hello["access"] = "none";
    return hello;
  }
  json hello = helloResult(context.caller.kind,
                           methodsForPage(context.grade, rawSigningAllowed(context), viaWebSocket));
  hello["access"] = gradeName(context.grade);
  if (viaWebSocket) {
    hello["notifications"].push_back("pairingCode");
    hello["paired"] = true;
  }
  return hello;
}

const std::string& helloResultText(CallerKind kind) {
  // Built once: the same answer handleHello gives these callers.
  static const std::string local =
      helloResult(CallerKind::Local, methodsFor(CallerKind::Local)).dump();
  static const std::string extension =
      helloResult(CallerKind::Extension, methodsFor(CallerKind::Extension)).dump();
  if (kind == CallerKind::Page) {
    throw std::logic_error("a page's hello depends on its grade");
  }
  return kind == CallerKind::Local ? local : extension;
}

json handleSubscribe(RequestContext& /*context*/, const json& params) {
  const Params p(params, {});
  // The connection records the subscription when this succeeds (connection.cpp);
  // what each subscriber then receives is decided per event (Dispatcher::eventFor).
  return {{"subscribed", true}};
}

json handleStatus(RequestContext& context, const json& params) {
  const Params p(params, {});
  const PolicyHolder& holder = context.tokens.policyHolder();
  json policyState = json::object();
  if (const auto policy = holder.tryCurrent()) {
    policyState = {{"rawSigning", policy->rawSigning},
                   {"keyGeneration", policy->keyGeneration},
                   {"pinCacheSeconds", policy->pinCacheIdle.count()},
                   {"pinCacheMaxSeconds", policy->pinCacheMax.count()}};
  } else {
    // Fail closed, and say why: `p2pcp status` shows the parse error.
    policyState = {{"error", holder.problem().value_or("malformed")}};
  }
  json status = {{"agent", "p2pcp-agent"},
                 {"version", kAgentVersion},
                 {"protocol", kProtocolVersion},
                 {"tokens", holder.tryCurrent() ? context.tokens.listTokens() : json::array()},
                 {"policy", std::move(policyState)}};
  if (context.caller.kind == CallerKind::Local) {
    status["policy"]["file"] = holder.file().string();
    status["pid"] = ::getpid();
    status["modules"] = context.tokens.modules();
    status["consents"] = context.access.consents().list().size();
    status["webSocket"] = frontDoorStatus();
    // Which default a request without `key` uses: the person's choice, else agent.json's.
    if (const auto chosen = context.tokens.chosenDefaultKey()) {
      status["defaultKey"] = describeChosen(chosen);
      status["defaultKey"]["from"] = "setDefaultKey";
    } else if (const auto& configured = context.tokens.config().defaultKey) {
      status["defaultKey"] = {{"uri", *configured}, {"from", "agent.json"}};
    } else {
      status["defaultKey"] = nullptr;
    }
  }
  return status;
}

json handleListTokens(RequestContext& context, const json& params) {
  const Params p(params, {});
  return context.tokens.listTokens();
}

json handleListKeys(RequestContext& context, const json& params) {
  const Params p(params, {"token"});
  if (context.caller.isPage() && context.grade != Grade::Full && p.has("token")) {
    // Which tokens match a URI would tell the page their labels and serials.
    badRequest("parameter \"token\" needs full access");
  }
  json keys = context.tokens.listKeys(p.optionalString("token"));
  if (!context.caller.isPage()) {
    return keys;
  }
  json shown = json::array();
  for (auto& key : keys) {
    shown.push_back(keyForPage(std::move(key), context.grade));
  }
  return shown;
}

json handleSetDefaultKey(RequestContext& context, const json& params) {
  const Params p(params, {"key"});
  const auto key = params.find("key");
  if (key == params.end()) {
    badRequest("missing parameter \"key\" (a key URI or fingerprint, or null to clear)");
  }
  std::optional<std::string> keyRef;
  if (!key->is_null()) {
    keyRef = p.string("key");
  }
  return {{"defaultKey", describeChosen(context.tokens.setDefaultKey(keyRef))}};
}

json handleGetPublicKey(RequestContext& context, const json& params) {
  const Params p(params, {"key"});
  const auto [token, key] = resolveKeyFor(context, p.optionalString("key"));
  json identity = {{"type", pkcs11::keyTypeName(key.type)},
                   {"spki", toBase64(key.spki)},
                   {"fingerprint", toHex(scheme::fingerprint(key.spki))}};
  if (!context.caller.isPage()) {
    // The key's URI names the token's label and serial: not for web pages.
    identity["uri"] = key.uri;
  }
  return identity;
}

json handleLogin(RequestContext& context, const json& params) {
  const Params p(params, {"token", "key"});
  std::shared_ptr<Token> token;
  if (p.has("key")) {
    token = context.tokens.resolveKey(p.optionalString("key")).first;
  } else {
    token = context.tokens.findToken(p.optionalString("token"));
  }
  context.tokens.login(context.caller, token);
  return {{"loggedIn", true}, {"token", context.tokens.describe(token).uri}};
}

json handleLock(RequestContext& context, const json& params) {
  const Params p(params, {});
  context.tokens.lockAll();
  return {{"locked", true}};
}

json handleGenerateKey(RequestContext& context, const json& params) {
  const Params p(params, {"token", "type", "label"});
  if (!context.tokens.policy()->keyGeneration) {
    throw AgentError(ErrorCode::NotAllowedByPolicy, "key generation is turned off by policy");
  }
  const auto type = pkcs11::keyTypeFromName(p.string("type", 16));
  if (!type) {
    badRequest("type must be one of rsa, ec-p256, ec-p384, ed25519");
  }
  const auto token = context.tokens.findToken(p.optionalString("token"));
  return toJson(context.tokens.generateKey(context.caller, token, *type, p.string("label", 128)));
}

}  // namespace p2pcp::agent
