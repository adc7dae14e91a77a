// SPDX-License-Identifier: Apache-2.0
#pragma once
// The p2pcp CLI's commands. Each one makes its request, prints a human
// form or (with --json) the agent's JSON result, and returns an exit code.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "p2pcp/client/agent_client.hpp"

namespace p2pcp::cli {

// Exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitAgentError = 1;   // the agent refused or failed (typed code printed)
inline constexpr int kExitUsage = 2;        // bad command line or input
inline constexpr int kExitUnavailable = 3;  // the agent could not be reached or started
inline constexpr int kExitAuth = 4;         // PIN wrong, blocked or cancelled; consent denied

struct Options {
  bool json = false;
  std::optional<std::string> key;
  std::optional<std::string> token;
  // The space to work in (docs/scheme.md): a site's, named by its origin, or
  // (nullopt) the person's whole p2pcp space.
  std::optional<std::string> origin;
  // ECDSA signatures as DER instead of P1363 (r || s).
  bool der = false;
};

// What sign-block signs over: a storage key given as is, or one the agent
// computes from a uri (public, or private in the chosen space).
struct BlockTarget {
  std::optional<std::string> storageKey;
  std::optional<std::string> uri;
  std::string kind = "public";
  std::optional<std::string> privateUri;  // with storageKey: sign as this private uri's write key
};

// Calls the agent with the CLI's terminal and display attached for pinentry.
nlohmann::json call(const std::string& method, const nlohmann::json& params);

void printJson(const nlohmann::json& value);
std::string readAllStdin();
void writeStdout(const std::string& bytes);

int status(const Options& o);
int policyShow(const Options& o);
int tokens(const Options& o);
int keys(const Options& o);
int keygen(const Options& o, const std::string& type, const std::string& label);
int pubkey(const Options& o, bool pem);
int derive(const Options& o, const std::string& kind, const std::string& uri);
// One uri a line from stdin, one storage key a line out (derive_stdin.cpp).
int deriveStdin(const Options& o, const std::string& kind);
int signBlock(const Options& o, const BlockTarget& target, const std::string& seq);
int signLogin(const Options& o, const std::string& origin, const std::string& indexServer,
              const std::string& nonce, const std::string& timestamp);
int seal(const Options& o, const std::string& uri);
int open(const Options& o, const std::string& uri);
int sign(const Options& o, const std::optional<std::string>& algorithm);
int login(const Options& o);
int lock(const Options& o);
int consentsList(const Options& o);
int consentsGrant(const Options& o, const std::string& origin, bool full,
                  const std::optional<std::string>& space);
int consentsRevoke(const Options& o, const std::string& origin);
// `p2pcp pairings [revoke ORIGIN]`: pages paired with the WebSocket front door.
int pairingsList(const Options& o);
int pairingsRevoke(const Options& o, const std::string& origin);
int defaultKeyShow(const Options& o);
int defaultKeySet(const Options& o, const std::string& key);
int defaultKeyClear(const Options& o);

}  // namespace p2pcp::cli
