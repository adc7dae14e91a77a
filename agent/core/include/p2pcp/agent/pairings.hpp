// SPDX-License-Identifier: Apache-2.0
#pragma once
// Pairing a web page with the WebSocket front door (docs/protocol.md,
// "Pairing"): before an origin is paired, a front-door page may call only
// hello and pair. Pairing shows the person a pinentry dialog that names the
// origin and a short code the agent drew and sent to the page first, so the
// person pairs only the page that shows the same code (another page of the
// same origin in another tab cannot learn the code). The answer is kept in
// the pairing store; a refusal is remembered until the person forgets it.

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/dialogs.hpp"
#include "p2pcp/agent/pairing_store.hpp"

namespace p2pcp::agent {

// Sends a notification (method, params) on the connection a request came on;
// returns once it is queued there.
using RequestNotify = std::function<void(const std::string& method, nlohmann::json params)>;

class Pairings {
 public:
  // How long the page may show its code: the pinentry dialog's own timeout.
  static constexpr int kCodeLifetimeSeconds = 120;

  Pairings(PairingStore& store, Dialogs& dialogs, const AccessControl& access)
      : store_(store), dialogs_(dialogs), access_(access) {}

  [[nodiscard]] bool isPaired(const std::string& origin) const { return store_.isPaired(origin); }

  // The pair method for a front-door page: {"paired": true, "origin"} when
  // paired (at once when it already was). Throws AgentError: ConsentDenied
  // (refused now, or remembered), NotAllowedByPolicy, RateLimited,
  // PinentryFailed (no answer in time: nothing remembered).
  nlohmann::json pair(const Caller& caller, const RequestNotify& notify);

  [[nodiscard]] std::vector<Pairing> list() const { return store_.list(); }
  // Forgets the origin's pairing or refusal, ends its dialog pauses, and
  // closes its open front-door connections. False when there was nothing.
  bool revoke(const std::string& origin);
  // Called with an origin whose pairing was revoked (main: the front door
  // closes that origin's connections). Set before serving.
  void onRevoked(std::function<void(const std::string& origin)> listener);

  // Six decimal digits from RAND_bytes, uniform, shown as "123-456".
  static std::string drawCode();

 private:
  PairingStore& store_;
  Dialogs& dialogs_;
  const AccessControl& access_;
  std::mutex listenerMutex_;
  std::function<void(const std::string&)> revoked_;
};

}  // namespace p2pcp::agent
