// SPDX-License-Identifier: Apache-2.0
// p2pcp-native-host: the program the browser starts for the p2pcp extension.
// stdout carries only native-messaging frames; diagnostics go to stderr,
// which the browser keeps in its own log.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "p2pcp/agent/config.hpp"
#include "p2pcp/host/caller.hpp"
#include "p2pcp/host/relay.hpp"

using namespace p2pcp;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // NOLINT(cert-err33-c): a closed pipe is an error return
  const std::vector<std::string> args(argv + 1, argv + argc);
  host::Relay relay(STDIN_FILENO, STDOUT_FILENO, {});
  try {
    const auto caller = host::parseCaller(args);
    if (!caller) {
      std::cerr << "p2pcp-native-host: started without a browser extension as caller; "
                   "browsers start this program from its host manifest\n";
      return relay.refuseAll("the native host was started without a browser extension");
    }
    std::vector<std::string> fromPolicy;
    try {
      fromPolicy =
          agent::Policy::load(agent::Paths::fromEnvironment().policyFile).allowedExtensions;
    } catch (const std::exception& e) {
      // A broken policy must not open the door wider: refuse everyone.
      std::cerr << "p2pcp-native-host: " << e.what() << '\n';
      return relay.refuseAll("the administrator's policy file is malformed");
    }
    if (!host::isAllowed(*caller, host::allowedExtensionIds(fromPolicy))) {
      std::cerr << "p2pcp-native-host: refused extension " << caller->extensionId << '\n';
      return relay.refuseAll("this browser extension is not allowed to use the p2pcp agent");
    }
    return relay.run(*caller);
  } catch (const std::exception& e) {
    std::cerr << "p2pcp-native-host: " << e.what() << '\n';
    return 1;
  }
}
