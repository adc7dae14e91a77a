// SPDX-License-Identifier: Apache-2.0
// p2pcp-token-import: loads a PEM private key into a token as a sensitive,
// non-extractable key pair. A TEST TOOL: it takes the PIN on the command line,
// which real software must never do (other users can read argv).
#include <openssl/pem.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "p2pcp/common/encoding.hpp"
#include "p2pcp/common/ossl.hpp"
#include "p2pcp/pkcs11/inventory.hpp"
#include "p2pcp/pkcs11/module.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "p2pcp-token-import: import a PEM key into a PKCS#11 token (test tool; PIN on the command "
      "line)"};
  std::string module;
  std::string tokenLabel;
  std::string pin;
  std::string label;
  std::string idHex;
  std::string keyFile;
  app.add_option("--module", module, "PKCS#11 module path")->required();
  app.add_option("--token", tokenLabel, "Token label")->required();
  app.add_option("--pin", pin, "User PIN (test tool only)")->required();
  app.add_option("--label", label, "Key label")->required();
  app.add_option("--id", idHex, "Key id (hex)")->required();
  app.add_option("keyfile", keyFile, "PEM private key")->required();
  CLI11_PARSE(app, argc, argv);

  try {
    const auto id = p2pcp::fromHex(idHex);
    if (!id) {
      throw std::runtime_error("--id must be hex");
    }
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(keyFile.c_str(), "r"), &std::fclose);
    if (!file) {
      throw std::runtime_error("cannot open " + keyFile);
    }
    const p2pcp::ossl::EvpPkeyPtr key(PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr));
    if (!key) {
      throw std::runtime_error(keyFile + " is not a PEM private key");
    }
    p2pcp::pkcs11::Inventory inventory({p2pcp::pkcs11::Module::loadPath(module)});
    inventory.refresh();
    // p11-kit URIs percent-encode; a label made of safe characters needs no escaping.
    const auto token = inventory.findToken("pkcs11:token=" + tokenLabel);
    token->login(p2pcp::SecureString(pin));
    const auto imported = token->importKeyPair(key.get(), label, *id);
    std::cout << imported.uri << '\n';
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "p2pcp-token-import: " << e.what() << '\n';
    return 1;
  }
}
