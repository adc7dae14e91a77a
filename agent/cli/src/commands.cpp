// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/common/digest.hpp"
#include "p2pcp/common/encoding.hpp"

namespace p2pcp::cli {

using nlohmann::json;

namespace {

json withKey(const Options& o, json params = json::object()) {
  if (o.key) {
    params["key"] = *o.key;
  }
  return params;
}

// The key and, when --origin names one, the site space.
json inSpace(const Options& o, json params) {
  params = withKey(o, std::move(params));
  if (o.origin) {
    params["space"] = *o.origin;
  }
  return params;
}

// The signature form the person asked for (P1363 is the agent's default).
json withSignatureFormat(const Options& o, json params) {
  if (o.der) {
    params["signatureFormat"] = "der";
  }
  return params;
}

// A time the agent gives in seconds since the epoch, as the person reads it.
std::string localTime(long long epochSeconds) {
  const auto seconds = static_cast<std::time_t>(epochSeconds);
  std::tm parts{};
  if (::localtime_r(&seconds, &parts) == nullptr) {
    return std::to_string(epochSeconds);
  }
  std::ostringstream out;
  out << std::put_time(&parts, "%Y-%m-%d %H:%M");
  return out.str();
}

// Says on a terminal which space a private operation used; stdout keeps only the result.
void noteSpace(const json& result) {
  if (::isatty(STDERR_FILENO) != 0 && result.contains("space")) {
    std::cerr << "(space: " << result["space"].get<std::string>() << ")\n";
  }
}

int printOr(const Options& o, const json& result, const std::string& text) {
  if (o.json) {
    printJson(result);
  } else {
    std::cout << text;
  }
  return kExitOk;
}

std::string yesNo(bool b) {
  return b ? "yes" : "no";
}

// The status's "webSocket" member in one line (docs/cli.md).
std::string frontDoorLine(const json& door) {
  const std::string state = door.value("state", "");
  const std::string port = std::to_string(door.value("port", 0));
  const std::string setBy =
      door.value("setBy", "") == "policy" ? " (turned on by the administrator's policy)" : "";
  if (state == "off" || state.empty()) {
    return "off";
  }
  if (state == "listening") {
    return "listening on " + door.value("url", "ws://127.0.0.1:" + port) + setBy;
  }
  if (state == "forbidden") {
    return "forbidden: " + door.value("error", "the administrator's policy forbids it") +
           " (agent.json asks for port " + port + ")";
  }
  return "ERROR, not listening on port " + port + setBy + ": " + door.value("error", state);
}

}  // namespace

int status(const Options& o) {
  const json s = call("status", json::object());
  std::string text = "agent: p2pcp-agent " + s.value("version", "") + " (pid " +
                     std::to_string(s.value("pid", 0)) + ", protocol " +
                     std::to_string(s.value("protocol", 0)) + ")\n";
  for (const auto& m : s.value("modules", json::array())) {
    text += "module: " + m.value("name", "") + " (" + m.value("path", "") + ")\n";
  }
  if (s["tokens"].empty()) {
    text += "tokens: none present\n";
  }
  for (const auto& t : s["tokens"]) {
    text += "token: " + t.value("label", "") + "  logged in: " + yesNo(t.value("loggedIn", false)) +
            "  PIN: " + t.value("pinState", "") + "\n";
  }
  if (s["policy"].contains("error")) {
    // The agent runs but fails closed: say what is wrong, not only where to look.
    text += "policy: MALFORMED, policy-governed requests are refused until it is fixed:\n  " +
            s["policy"].value("error", "") + "\n";
  } else {
    text +=
        "raw signing: " + std::string(s["policy"].value("rawSigning", false) ? "allowed" : "off") +
        "; key generation: " + (s["policy"].value("keyGeneration", true) ? "allowed" : "off") +
        "; PIN cache: " + std::to_string(s["policy"].value("pinCacheSeconds", 0)) + " s idle\n";
  }
  text += "sites with consent: " + std::to_string(s.value("consents", 0)) + "\n";
  text += "WebSocket front door: " + frontDoorLine(s.value("webSocket", json::object())) + "\n";
  return printOr(o, s, text);
}

int tokens(const Options& o) {
  const json list = call("listTokens", json::object());
  std::string text;
  for (const auto& t : list) {
    text += t.value("label", "") + "\n  uri: " + t.value("uri", "") +
            "\n  module: " + t.value("module", "") +
            "\n  logged in: " + yesNo(t.value("loggedIn", false)) +
            "; PIN state: " + t.value("pinState", "") +
            (t.value("protectedAuthenticationPath", false) ? "; PIN pad" : "") + "\n";
  }
  return printOr(o, list, text.empty() ? "no tokens present\n" : text);
}

int keys(const Options& o) {
  json params = json::object();
  if (o.token) {
    params["token"] = *o.token;
  }
  const json list = call("listKeys", params);
  std::string text;
  for (const auto& k : list) {
    text += k.value("label", "") + " (" + k.value("type", "") + ")" +
            (k.value("default", false) ? " [default]" : "") + "\n  uri: " + k.value("uri", "") +
            "\n  fingerprint: " + k.value("fingerprint", "") + "\n";
  }
  return printOr(o, list, text.empty() ? "no keys\n" : text);
}

int keygen(const Options& o, const std::string& type, const std::string& label) {
  json params = {{"type", type}, {"label", label}};
  if (o.token) {
    params["token"] = *o.token;
  }
  const json key = call("generateKey", params);
  return printOr(o, key,
                 "generated " + key.value("type", "") + " key\n  uri: " + key.value("uri", "") +
                     "\n  fingerprint: " + key.value("fingerprint", "") + "\n");
}

int pubkey(const Options& o, bool pem) {
  const json key = call("getPublicKey", withKey(o));
  if (o.json) {
    printJson(key);
    return kExitOk;
  }
  const std::string der64 = key.value("spki", "");
  if (!pem) {
    std::cout << der64 << '\n';
    return kExitOk;
  }
  std::cout << "-----BEGIN PUBLIC KEY-----\n";
  for (std::size_t i = 0; i < der64.size(); i += 64) {
    std::cout << der64.substr(i, 64) << '\n';
  }
  std::cout << "-----END PUBLIC KEY-----\n";
  return kExitOk;
}

int derive(const Options& o, const std::string& kind, const std::string& uri) {
  const json r = call("deriveStorageKey", inSpace(o, {{"kind", kind}, {"uri", uri}}));
  if (!o.json) {
    noteSpace(r);
  }
  return printOr(o, r, r.value("storageKey", "") + "\n");
}

int signBlock(const Options& o, const BlockTarget& target, const std::string& seq) {
  const std::string payload = readAllStdin();
  // Send the hash, not the block: the signature covers H(payload) anyway.
  json params = inSpace(o, {{"seq", seq}, {"payloadSha256", toHex(sha256(asBytes(payload)))}});
  if (target.uri) {
    params["uri"] = *target.uri;
    params["kind"] = target.kind;
  } else if (target.storageKey) {
    params["storageKey"] = *target.storageKey;
    if (target.privateUri) {
      params["private"] = *target.privateUri;
    }
  }
  printJson(call("signBlock", withSignatureFormat(o, std::move(params))));
  return kExitOk;
}

int signLogin(const Options& o, const std::string& origin, const std::string& indexServer,
              const std::string& nonce, const std::string& timestamp) {
  const json r = call("signLogin", withSignatureFormat(o, withKey(o, {{"origin", origin},
                                                                      {"indexServer", indexServer},
                                                                      {"nonce", nonce},
                                                                      {"timestamp", timestamp}})));
  printJson(r);
  return kExitOk;
}

int seal(const Options& o, const std::string& uri) {
  const std::string plaintext = readAllStdin();
  const json r =
      call("seal", inSpace(o, {{"uri", uri}, {"plaintext", toBase64(asBytes(plaintext))}}));
  if (!o.json) {
    noteSpace(r);
  }
  return printOr(o, r, r.value("sealed", "") + "\n");
}

int open(const Options& o, const std::string& uri) {
  std::string sealed = readAllStdin();
  while (!sealed.empty() &&
         (sealed.back() == '\n' || sealed.back() == '\r' || sealed.back() == ' ')) {
    sealed.pop_back();
  }
  const json r = call("open", inSpace(o, {{"uri", uri}, {"sealed", sealed}}));
  if (o.json) {
    printJson(r);
    return kExitOk;
  }
  auto plaintext = fromBase64(r.value("plaintext", ""));
  if (!plaintext) {
    throw std::runtime_error("the agent returned invalid base64");
  }
  writeStdout(std::string(asChars(*plaintext)));
  OPENSSL_cleanse(plaintext->data(), plaintext->size());
  return kExitOk;
}

int sign(const Options& o, const std::optional<std::string>& algorithm) {
  const std::string message = readAllStdin();
  json params = withKey(o, {{"message", toBase64(asBytes(message))}});
  if (algorithm) {
    params["algorithm"] = *algorithm;
  }
  printJson(call("sign", withSignatureFormat(o, std::move(params))));
  return kExitOk;
}

int login(const Options& o) {
  json params = json::object();
  if (o.token) {
    params["token"] = *o.token;
  }
  if (o.key) {
    params["key"] = *o.key;
  }
  const json r = call("login", params);
  return printOr(o, r, "logged in to " + r.value("token", "") + "\n");
}

int lock(const Options& o) {
  const json r = call("lock", json::object());
  return printOr(o, r, "locked: logged out of every token, cached secrets wiped\n");
}

int consentsList(const Options& o) {
  const json list = call("listConsents", json::object());
  std::string text;
  for (const auto& c : list) {
    text += c.value("origin", "") + "  access: " + c.value("access", "");
    if (c.contains("space") && c["space"] != c["origin"]) {
      text += "  space: " + c["space"].get<std::string>();
    }
    if (c.contains("denied")) {
      text += "  denied: " + c["denied"].value("access", "") + " access (remembered until " +
              localTime(c["denied"].value("until", 0LL)) + ")";
    }
    text += "\n";
  }
  return printOr(o, list, text.empty() ? "no site has consent\n" : text);
}

int consentsGrant(const Options& o, const std::string& origin, bool full,
                  const std::optional<std::string>& space) {
  json params = {{"origin", origin}, {"access", full ? "full" : "site"}};
  if (space) {
    params["space"] = *space;
  }
  const json r = call("grantConsent", params);
  return printOr(o, r,
                 "granted " + r.value("access", "") + " access to " + origin +
                     " (space: " + r.value("space", "") + ")\n");
}

int consentsRevoke(const Options& o, const std::string& origin) {
  const json r = call("revokeConsent", {{"origin", origin}});
  return printOr(
      o, r, r.value("revoked", false) ? "revoked " + origin + "\n" : origin + " had no consent\n");
}

int pairingsList(const Options& o) {
  const json r = call("listPairings", json::object());
  std::string text;
  for (const auto& p : r.value("pairings", json::array())) {
    text += p.value("origin", "") + "  " + p.value("state", "") + " since " +
            localTime(p.value("since", 0LL)) + "\n";
  }
  return printOr(o, r, text.empty() ? "no page is paired with the WebSocket front door\n" : text);
}

int pairingsRevoke(const Options& o, const std::string& origin) {
  const json r = call("revokePairing", {{"origin", origin}});
  return printOr(o, r,
                 r.value("revoked", false)
                     ? "forgot the pairing of " + origin + " (its open connections are closed)\n"
                     : origin + " was not paired (nor refused)\n");
}

}  // namespace p2pcp::cli
