// SPDX-License-Identifier: Apache-2.0
#pragma once
// The PKCS#11 helper's request loop: one vendor module, its tokens, and the
// operations the agent asks for, one frame at a time on a socket the agent
// holds the other end of. The module's code runs only in this process, so
// when it crashes or hangs, the agent loses this helper and nothing else.

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "p2pcp/pkcs11/inventory.hpp"
#include "p2pcp/pkcs11/module.hpp"

namespace p2pcp::pkcs11::helper {

class HelperServer {
 public:
  HelperServer(std::shared_ptr<Module> module, int fd);
  // Serves until the agent closes its end. Returns the process exit code.
  int run();
  // Where the module supports C_WaitForSlotEvent, a thread waits for slot
  // events (a card inserted or pulled) and writes a byte to eventFd for each,
  // so the agent scans at once instead of at its next poll. Returns whether
  // the module supports it. The thread ends with the process.
  bool watchSlotEvents(int eventFd);

 private:
  nlohmann::json handle(nlohmann::json& request);
  Token& tokenAt(const nlohmann::json& request);
  void send(const nlohmann::json& message);

  std::shared_ptr<Module> module_;
  Inventory inventory_;
  int fd_;
  std::mutex writeMutex_;
};

}  // namespace p2pcp::pkcs11::helper
