// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/helper_wire.hpp"

#include <algorithm>
#include <cstring>

#include "p2pcp/common/encoding.hpp"
#include "p2pcp/pkcs11/error.hpp"

namespace p2pcp::pkcs11::wire {

using nlohmann::json;

namespace {

Bytes bytesOf(const json& value) {
  auto decoded = fromBase64(value.get<std::string>());
  if (!decoded) {
    throw LayerError(LayerError::Kind::BadInput, "the helper sent malformed base64");
  }
  return std::move(*decoded);
}

KeyType keyTypeOf(const json& value) {
  const auto type = keyTypeFromName(value.get<std::string>());
  if (!type) {
    throw LayerError(LayerError::Kind::BadInput, "the helper sent an unknown key type");
  }
  return *type;
}

// CK_UTF8CHAR fields are blank-padded, not terminated.
template <std::size_t N>
std::string padded(const CK_UTF8CHAR (&field)[N]) {
  return {reinterpret_cast<const char*>(field), N};
}

template <std::size_t N>
void fill(CK_UTF8CHAR (&field)[N], const std::string& text) {
  std::memset(field, ' ', N);
  std::memcpy(field, text.data(), std::min(N, text.size()));
}

constexpr std::array kLayerKinds{
    std::pair{LayerError::Kind::ModuleLoad, "moduleLoad"},
    std::pair{LayerError::Kind::NoSuchToken, "noSuchToken"},
    std::pair{LayerError::Kind::NoSuchKey, "noSuchKey"},
    std::pair{LayerError::Kind::AmbiguousKey, "ambiguousKey"},
    std::pair{LayerError::Kind::BadUri, "badUri"},
    std::pair{LayerError::Kind::Unsupported, "unsupported"},
    std::pair{LayerError::Kind::BadInput, "badInput"},
};

}  // namespace

json encode(const TokenDescription& token) {
  return {{"uri", token.uri},
          {"label", token.label},
          {"manufacturer", token.manufacturer},
          {"model", token.model},
          {"serial", token.serial},
          {"moduleName", token.moduleName},
          {"slot", token.slot},
          {"loginRequired", token.loginRequired},
          {"protectedAuthenticationPath", token.protectedAuthenticationPath},
          {"writeProtected", token.writeProtected},
          {"pinState", pinStateName(token.pinState)}};
}

TokenDescription decodeTokenDescription(const json& in) {
  TokenDescription token;
  token.uri = in.at("uri").get<std::string>();
  token.label = in.at("label").get<std::string>();
  token.manufacturer = in.at("manufacturer").get<std::string>();
  token.model = in.at("model").get<std::string>();
  token.serial = in.at("serial").get<std::string>();
  token.moduleName = in.at("moduleName").get<std::string>();
  token.slot = in.at("slot").get<CK_SLOT_ID>();
  token.loginRequired = in.at("loginRequired").get<bool>();
  token.protectedAuthenticationPath = in.at("protectedAuthenticationPath").get<bool>();
  token.writeProtected = in.at("writeProtected").get<bool>();
  const std::string state = in.at("pinState").get<std::string>();
  for (const PinState candidate : {PinState::Ok, PinState::CountLow, PinState::FinalTry,
                                   PinState::Locked, PinState::NotInitialized}) {
    if (pinStateName(candidate) == state) {
      token.pinState = candidate;
    }
  }
  return token;
}

json encode(const KeyDescription& key, bool withCertificate) {
  json out = {{"uri", key.uri},
              {"tokenUri", key.tokenUri},
              {"label", key.label},
              {"id", toBase64(key.id)},
              {"type", keyTypeName(key.type)},
              {"bits", key.bits},
              {"spki", toBase64(key.spki)},
              {"alwaysAuthenticate", key.alwaysAuthenticate},
              {"sensitive", key.sensitive},
              {"extractable", key.extractable},
              {"canSign", key.canSign},
              {"canDerive", key.canDerive},
              {"canDecrypt", key.canDecrypt}};
  if (withCertificate && key.certificate) {
    out["certificate"] = toBase64(*key.certificate);
  }
  return out;
}

KeyDescription decodeKey(const json& in) {
  KeyDescription key;
  key.uri = in.at("uri").get<std::string>();
  key.tokenUri = in.at("tokenUri").get<std::string>();
  key.label = in.at("label").get<std::string>();
  key.id = bytesOf(in.at("id"));
  key.type = keyTypeOf(in.at("type"));
  key.bits = in.at("bits").get<std::size_t>();
  key.spki = bytesOf(in.at("spki"));
  key.alwaysAuthenticate = in.at("alwaysAuthenticate").get<bool>();
  key.sensitive = in.at("sensitive").get<bool>();
  key.extractable = in.at("extractable").get<bool>();
  key.canSign = in.at("canSign").get<bool>();
  key.canDerive = in.at("canDerive").get<bool>();
  key.canDecrypt = in.at("canDecrypt").get<bool>();
  if (const auto it = in.find("certificate"); it != in.end()) {
    key.certificate = bytesOf(*it);
  }
  return key;
}

json encodeTokenInfo(const CK_TOKEN_INFO& info) {
  return {{"label", padded(info.label)},
          {"manufacturerID", padded(info.manufacturerID)},
          {"model", padded(info.model)},
          {"serialNumber", padded(info.serialNumber)},
          {"flags", info.flags}};
}

CK_TOKEN_INFO decodeTokenInfo(const json& in) {
  CK_TOKEN_INFO info{};
  fill(info.label, in.at("label").get<std::string>());
  fill(info.manufacturerID, in.at("manufacturerID").get<std::string>());
  fill(info.model, in.at("model").get<std::string>());
  fill(info.serialNumber, in.at("serialNumber").get<std::string>());
  info.flags = in.at("flags").get<CK_FLAGS>();
  return info;
}

json encodeError(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Pkcs11Error& e) {
    return {{"pkcs11", e.rv()}, {"function", e.function()}};
  } catch (const LayerError& e) {
    for (const auto& [kind, name] : kLayerKinds) {
      if (kind == e.kind()) {
        return {{"layer", name}, {"message", e.what()}};
      }
    }
    return {{"layer", "badInput"}, {"message", e.what()}};
  } catch (const std::exception& e) {
    return {{"other", e.what()}};
  } catch (...) {
    return {{"other", "unknown failure"}};
  }
}

void rethrow(const json& error) {
  if (const auto rv = error.find("pkcs11"); rv != error.end()) {
    throw Pkcs11Error(rv->get<CK_RV>(), error.value("function", std::string("C_?")));
  }
  if (const auto layer = error.find("layer"); layer != error.end()) {
    for (const auto& [kind, name] : kLayerKinds) {
      if (*layer == name) {
        throw LayerError(kind, error.value("message", std::string()));
      }
    }
  }
  throw std::runtime_error("PKCS#11 helper: " + error.value("other", std::string("failed")));
}

}  // namespace p2pcp::pkcs11::wire
