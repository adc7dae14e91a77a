// SPDX-License-Identifier: Apache-2.0
// `p2pcp default-key [set KEY | clear]`: the default key the person chose
// (setDefaultKey), which requests without --key use ahead of agent.json's.
#include <iostream>

#include "cli.hpp"

namespace p2pcp::cli {

using nlohmann::json;

namespace {

std::string describe(const json& key) {
  return key.value("label", "") + "\n  fingerprint: " + key.value("fingerprint", "") +
         "\n  uri: " + key.value("uri", "") + "\n";
}

int printChosen(const Options& o, const json& result) {
  if (o.json) {
    printJson(result);
    return kExitOk;
  }
  const json& key = result["defaultKey"];
  std::cout << (key.is_null() ? std::string("no default key chosen\n")
                              : "default key: " + describe(key));
  return kExitOk;
}

}  // namespace

int defaultKeyShow(const Options& o) {
  const json status = call("status", json::object());
  const json key = status.value("defaultKey", json());
  if (o.json) {
    printJson({{"defaultKey", key}});
    return kExitOk;
  }
  if (key.is_null()) {
    std::cout << "no default key: requests without --key use the only key there is\n";
  } else if (key.value("from", "") == "agent.json") {
    std::cout << "default key (agent.json defaultKey): " << key.value("uri", "") << '\n';
  } else {
    std::cout << "default key (chosen): " << describe(key);
  }
  return kExitOk;
}

int defaultKeySet(const Options& o, const std::string& key) {
  return printChosen(o, call("setDefaultKey", {{"key", key}}));
}

int defaultKeyClear(const Options& o) {
  return printChosen(o, call("setDefaultKey", {{"key", nullptr}}));
}

}  // namespace p2pcp::cli
