// SPDX-License-Identifier: Apache-2.0
// p2pcp-pkcs11-helper: runs one PKCS#11 module for the p2pcp agent, in a
// process of its own, as OpenSSH's ssh-pkcs11-helper does for ssh-agent: a
// module that crashes or hangs takes this process down, never the agent.
//
//   p2pcp-pkcs11-helper --module PATH      serve PATH on fd 3 (the agent's socketpair)
//   p2pcp-pkcs11-helper --registered       print p11-kit's registered modules as JSON
//
// Started only by the agent, which resolves and filters the module path
// (policy, p11-kit's registry, the person's config) before anything is loaded.
#include <fcntl.h>
#include <p11-kit/p11-kit.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "helper_server.hpp"
#include "p2pcp/pkcs11/error.hpp"

namespace {

constexpr int kServeFd = 3;
constexpr int kEventFd = 4;  // optional: one byte per slot event, to the agent

std::string takeString(char* text) {
  std::string out = text != nullptr ? text : "";
  std::free(text);  // NOLINT(cppcoreguidelines-no-malloc): p11-kit allocates with malloc
  return out;
}

// The registered modules, loaded (not initialised) only to read their file
// names and options; p11-kit has already applied enable-in / disable-in for
// the program name this process was started under (the agent starts it as
// "p2pcp-agent", so administrators name the agent in their module files).
int listRegistered() {
  CK_FUNCTION_LIST** modules = p11_kit_modules_load(nullptr, P11_KIT_MODULE_UNMANAGED);
  if (modules == nullptr) {
    std::cerr << "p2pcp-pkcs11-helper: " << p11_kit_message() << '\n';
    return 1;
  }
  nlohmann::json out = nlohmann::json::array();
  for (CK_FUNCTION_LIST** entry = modules; *entry != nullptr; ++entry) {
    out.push_back({{"name", takeString(p11_kit_module_get_name(*entry))},
                   {"path", takeString(p11_kit_module_get_filename(*entry))},
                   {"trustPolicy", takeString(p11_kit_config_option(*entry, "trust-policy"))}});
  }
  p11_kit_modules_release(modules);
  std::cout << out.dump() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Never leave key material in a core file; never be traced by other processes.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit noCore{0, 0};
  ::setrlimit(RLIMIT_CORE, &noCore);
  std::signal(SIGPIPE, SIG_IGN);  // NOLINT(cert-err33-c): a closed socket is an error return
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "--registered" && argc == 2) {
      return listRegistered();
    }
    if (mode == "--module" && argc == 3) {
      auto module = p2pcp::pkcs11::Module::loadPath(argv[2]);
      p2pcp::pkcs11::helper::HelperServer server(std::move(module), kServeFd);
      if (::fcntl(kEventFd, F_GETFD) >= 0) {
        (void)server.watchSlotEvents(kEventFd);
      }
      // _exit: a thread may be blocked inside the module waiting for a slot
      // event; nothing in this process needs a destructor to run any more.
      std::_Exit(server.run());
    }
  } catch (const std::exception& e) {
    std::cerr << "p2pcp-pkcs11-helper: " << e.what() << '\n';
    return 1;
  }
  std::cerr << "usage: p2pcp-pkcs11-helper --module PATH | --registered (started by p2pcp-agent)\n";
  return 2;
}
