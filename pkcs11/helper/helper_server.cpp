// SPDX-License-Identifier: Apache-2.0
#include "helper_server.hpp"

#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "p2pcp/agent/json_parse.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/common/framing.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/helper_wire.hpp"

namespace p2pcp::pkcs11::helper {

using nlohmann::json;

namespace {

// A PIN or other secret out of the request, and the request's copy wiped.
std::optional<SecureString> takeSecret(json& request, const char* name) {
  const auto it = request.find(name);
  if (it == request.end() || it->is_null()) {
    return std::nullopt;
  }
  auto& text = it->get_ref<std::string&>();
  SecureString secret(text.begin(), text.end());
  OPENSSL_cleanse(text.data(), text.size());
  return secret;
}

Bytes bytesParam(const json& request, const char* name) {
  auto decoded = fromBase64(request.at(name).get<std::string>());
  if (!decoded) {
    throw LayerError(LayerError::Kind::BadInput, std::string("malformed base64 in ") + name);
  }
  return std::move(*decoded);
}

SignAlgorithm algorithmParam(const json& request) {
  const auto algorithm = signAlgorithmFromName(request.at("algorithm").get<std::string>());
  if (!algorithm) {
    throw LayerError(LayerError::Kind::BadInput, "unknown signature algorithm");
  }
  return *algorithm;
}

}  // namespace

HelperServer::HelperServer(std::shared_ptr<Module> module, int fd)
    : module_(module), inventory_({std::move(module)}), fd_(fd) {}

void HelperServer::send(const json& message) {
  std::string text = message.dump(-1, ' ', false, json::error_handler_t::replace);
  const std::scoped_lock lock(writeMutex_);
  try {
    writeFrame(fd_, text, LengthOrder::BigEndian, kMaxAgentMessage);
  } catch (...) {
    OPENSSL_cleanse(text.data(), text.size());
    throw;
  }
  OPENSSL_cleanse(text.data(), text.size());  // an ECDH result is secret
}

Token& HelperServer::tokenAt(const json& request) {
  const auto slot = request.at("slot").get<CK_SLOT_ID>();
  for (const auto& token : inventory_.tokens()) {
    if (token->slot() == slot) {
      return *token;
    }
  }
  // The agent's view is older than ours: that token is gone from the slot.
  throw Pkcs11Error(CKR_TOKEN_NOT_PRESENT, "C_GetTokenInfo");
}

json HelperServer::handle(json& request) {
  const std::string op = request.at("op").get<std::string>();
  if (op == "scan") {
    inventory_.refresh();
    json tokens = json::array();
    for (const auto& token : inventory_.tokens()) {
      tokens.push_back(
          {{"slot", token->slot()}, {"info", wire::encodeTokenInfo(token->lastTokenInfo())}});
    }
    return {{"module", {{"name", module_->name()}, {"path", module_->path()}}},
            {"tokens", std::move(tokens)}};
  }
  Token& token = tokenAt(request);
  if (op == "describe") {
    return wire::encode(token.describe());
  }
  if (op == "loggedIn") {
    return token.loggedIn();
  }
  if (op == "login") {
    token.login(takeSecret(request, "pin"));
    return true;
  }
  if (op == "logout") {
    token.logout();
    return true;
  }
  if (op == "generateKeyPair") {
    const auto type = keyTypeFromName(request.at("type").get<std::string>());
    if (!type) {
      throw LayerError(LayerError::Kind::BadInput, "unknown key type");
    }
    return wire::encode(token.generateKeyPair(*type, request.at("label").get<std::string>()));
  }
  if (op == "keys") {
    json keys = json::array();
    for (const auto& key : token.keys()) {
      keys.push_back(wire::encode(key));
    }
    return keys;
  }
  const KeyDescription key = wire::decodeKey(request.at("key"));
  if (op == "needsContextLogin") {
    return token.needsContextLogin(key);
  }
  if (op == "sign") {
    const auto pin = takeSecret(request, "contextPin");
    return toBase64(token.sign(key, algorithmParam(request), bytesParam(request, "message"), pin));
  }
  if (op == "deriveEcdh") {
    const auto pin = takeSecret(request, "contextPin");
    SecureBytes secret = token.deriveEcdh(key, bytesParam(request, "peer"), pin);
    return toBase64(secret);
  }
  throw LayerError(LayerError::Kind::BadInput, "unknown helper operation " + op.substr(0, 32));
}

bool HelperServer::watchSlotEvents(int eventFd) {
  CK_FUNCTION_LIST* functions = module_->functions();
  CK_SLOT_ID slot = 0;
  // A module that cannot wait says CKR_FUNCTION_NOT_SUPPORTED here (SoftHSM2
  // does); then the agent's one-second scan is all there is.
  const CK_RV probe = functions->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr);
  if (probe != CKR_OK && probe != CKR_NO_EVENT) {
    return false;
  }
  // The module was initialised with CKF_OS_LOCKING_OK (p11-kit), so this
  // thread's blocking wait may run beside the request loop's calls.
  std::thread([functions, eventFd, module = module_] {
    for (;;) {
      CK_SLOT_ID changed = 0;
      const CK_RV rv = functions->C_WaitForSlotEvent(0, &changed, nullptr);
      if (rv != CKR_OK) {
        return;  // finalised, or the module gave up waiting: the poll remains
      }
      const char event = 1;
      if (::write(eventFd, &event, 1) < 0 && errno != EAGAIN && errno != EINTR) {
        return;  // the agent is gone
      }
    }
  }).detach();
  return true;
}

int HelperServer::run() {
  for (;;) {
    std::optional<std::string> frame;
    try {
      frame = readFrame(fd_, LengthOrder::BigEndian, kMaxAgentMessage);
    } catch (const FramingError&) {
      return 1;
    }
    if (!frame) {
      return 0;  // the agent closed its end
    }
    json request;
    json id;
    try {
      request = agent::parseStrictJson(*frame);
      id = request.value("id", json());
    } catch (const std::exception&) {
      OPENSSL_cleanse(frame->data(), frame->size());
      return 1;  // the agent speaks this protocol or nothing
    }
    OPENSSL_cleanse(frame->data(), frame->size());  // it may have carried a PIN
    json reply = {{"id", id}};
    try {
      reply["ok"] = handle(request);
    } catch (...) {
      reply["error"] = wire::encodeError(std::current_exception());
    }
    bool sent = true;
    try {
      send(reply);
    } catch (const FramingError&) {
      sent = false;
    }
    if (const auto ok = reply.find("ok"); ok != reply.end() && ok->is_string()) {
      auto& text = ok->get_ref<std::string&>();
      OPENSSL_cleanse(text.data(), text.size());
    }
    if (!sent) {
      return 1;
    }
  }
}

}  // namespace p2pcp::pkcs11::helper
