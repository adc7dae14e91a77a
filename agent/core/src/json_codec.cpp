// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/json_codec.hpp"

#include "p2pcp/common/encoding.hpp"
#include "p2pcp/scheme/scheme.hpp"

namespace p2pcp::agent {

nlohmann::json toJson(const pkcs11::TokenDescription& token) {
  return {{"uri", token.uri},
          {"label", token.label},
          {"manufacturer", token.manufacturer},
          {"model", token.model},
          {"serial", token.serial},
          {"module", token.moduleName},
          {"slot", token.slot},
          {"loginRequired", token.loginRequired},
          {"protectedAuthenticationPath", token.protectedAuthenticationPath},
          {"pinState", pkcs11::pinStateName(token.pinState)}};
}

nlohmann::json toJson(const pkcs11::KeyDescription& key) {
  return {{"uri", key.uri},
          {"tokenUri", key.tokenUri},
          {"label", key.label},
          {"id", toHex(key.id)},
          {"type", pkcs11::keyTypeName(key.type)},
          {"bits", key.bits},
          {"spki", toBase64(key.spki)},
          {"fingerprint", toHex(scheme::fingerprint(key.spki))},
          {"alwaysAuthenticate", key.alwaysAuthenticate},
          {"canSign", key.canSign},
          {"canDerive", key.canDerive},
          {"canDecrypt", key.canDecrypt},
          {"hasCertificate", key.certificate.has_value()}};
}

}  // namespace p2pcp::agent
