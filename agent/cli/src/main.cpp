// SPDX-License-Identifier: Apache-2.0
// p2pcp: the command line of the p2pcp key agent.
#include <CLI/CLI.hpp>
#include <iostream>

#include "browser_hosts.hpp"
#include "cli.hpp"
#include "doctor.hpp"
#include "p2pcp/agent/version.hpp"
#include "p2pcp/common/framing.hpp"

using namespace p2pcp::cli;

namespace {

int reportAgentError(const p2pcp::client::AgentCallError& e, bool json) {
  if (json) {
    printJson({{"error", e.error()}});
  } else {
    std::cerr << "p2pcp: " << e.code() << ": " << e.what();
    const auto& data = e.error().value("data", nlohmann::json::object());
    if (data.contains("pinState")) {
      std::cerr << " (PIN state: " << data["pinState"].get<std::string>() << ")";
    }
    if (data.contains("ckr")) {
      std::cerr << " [" << data["ckr"].get<std::string>() << "]";
    }
    std::cerr << '\n';
  }
  const std::string& code = e.code();
  if (code == "PIN_INCORRECT" || code == "PIN_LOCKED" || code == "PIN_CANCELLED" ||
      code == "CONSENT_DENIED") {
    return kExitAuth;
  }
  return kExitAgentError;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"p2pcp: use your p2pcp identity on a smartcard or token through the key agent"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("p2pcp ") + p2pcp::agent::kAgentVersion);
  Options o;
  const auto addCommon = [&](CLI::App* cmd, bool withKey) {
    cmd->add_flag("--json", o.json, "Print the agent's JSON result");
    if (withKey) {
      cmd->add_option("--key", o.key,
                      "PKCS#11 URI or fingerprint of the key (default: the chosen, configured "
                      "or only key)");
    }
  };
  std::function<int()> run;
  const auto addDer = [&](CLI::App* cmd) {
    cmd->add_flag("--der", o.der,
                  "ECDSA signatures as DER (ECDSA-Sig-Value) instead of P1363 r||s, the default");
  };
  const auto addSpace = [&](CLI::App* cmd) {
    cmd->add_option("--origin", o.origin,
                    "Work in the site space of this web origin (e.g. https://app.example); "
                    "default: your full p2pcp space");
  };

  auto* statusCmd = app.add_subcommand("status", "Agent, modules, tokens and policy");
  addCommon(statusCmd, false);
  statusCmd->callback([&] { run = [&] { return status(o); }; });

  auto* policyCmd = app.add_subcommand(
      "policy", "The administrator's policy in effect, and where each value comes from");
  addCommon(policyCmd, false);
  policyCmd->callback([&] { run = [&] { return policyShow(o); }; });

  auto* tokensCmd = app.add_subcommand("tokens", "List the tokens present");
  addCommon(tokensCmd, false);
  tokensCmd->callback([&] { run = [&] { return tokens(o); }; });

  auto* keysCmd = app.add_subcommand("keys", "List the keys on the tokens");
  addCommon(keysCmd, false);
  keysCmd->add_option("--token", o.token, "PKCS#11 URI of a token");
  keysCmd->callback([&] { run = [&] { return keys(o); }; });

  std::string type;
  std::string label;
  auto* keygenCmd =
      app.add_subcommand("keygen", "Generate a key pair on the token (never extractable)");
  addCommon(keygenCmd, false);
  keygenCmd->add_option("--type", type, "rsa, ec-p256, ec-p384 or ed25519")
      ->required()
      ->check(CLI::IsMember({"rsa", "ec-p256", "ec-p384", "ed25519"}));
  keygenCmd->add_option("--label", label, "Label of the new key")->required();
  keygenCmd->add_option("--token", o.token, "PKCS#11 URI of the token");
  keygenCmd->callback([&] { run = [&] { return keygen(o, type, label); }; });

  bool pem = false;
  auto* pubkeyCmd = app.add_subcommand("pubkey", "Print the public key (base64 DER SPKI, or PEM)");
  addCommon(pubkeyCmd, true);
  pubkeyCmd->add_flag("--pem", pem, "PEM instead of base64 DER");
  pubkeyCmd->callback([&] { run = [&] { return pubkey(o, pem); }; });

  std::string kind;
  std::string uri;
  bool fromStdin = false;
  auto* deriveCmd = app.add_subcommand("derive", "Print the storage key of a p2pcp uri (hex)");
  addCommon(deriveCmd, true);
  deriveCmd->add_option("kind", kind, "public or private")
      ->required()
      ->check(CLI::IsMember({"public", "private"}));
  auto* deriveUri = deriveCmd->add_option("uri", uri, "The p2pcp uri, e.g. /notes");
  deriveCmd
      ->add_flag("--stdin", fromStdin,
                 "Read uris from stdin, one a line; print one storage key a line (an empty line "
                 "where a uri failed, the reason on stderr, exit code 1)")
      ->excludes(deriveUri);
  addSpace(deriveCmd);
  deriveCmd->callback([&] {
    if (!fromStdin && uri.empty()) {
      throw CLI::ValidationError("derive", "give a uri, or --stdin");
    }
    run = [&] { return fromStdin ? deriveStdin(o, kind) : derive(o, kind, uri); };
  });

  BlockTarget target;
  std::string seq;
  auto* signBlockCmd =
      app.add_subcommand("sign-block", "Sign a block write; the payload is read from stdin");
  addCommon(signBlockCmd, true);
  addSpace(signBlockCmd);
  auto* storageKeyOption =
      signBlockCmd->add_option("--storage-key", target.storageKey, "Storage key (64 hex digits)");
  auto* uriOption = signBlockCmd->add_option("--uri", target.uri,
                                             "The block's uri; the agent computes the storage key");
  storageKeyOption->excludes(uriOption);
  signBlockCmd->add_option("--kind", target.kind, "With --uri: public (default) or private")
      ->check(CLI::IsMember({"public", "private"}))
      ->needs(uriOption);
  signBlockCmd
      ->add_option("--private", target.privateUri,
                   "With --storage-key: sign as a private block of this uri (derived write key)")
      ->needs(storageKeyOption);
  signBlockCmd->add_option("--seq", seq, "Sequence number (unsigned 64-bit)")->required();
  addDer(signBlockCmd);
  signBlockCmd->callback([&] {
    if (!target.storageKey && !target.uri) {
      throw CLI::ValidationError("sign-block", "give --storage-key or --uri");
    }
    run = [&] { return signBlock(o, target, seq); };
  });

  std::string origin;
  std::string indexServer;
  std::string nonce;
  std::string timestamp;
  auto* signLoginCmd = app.add_subcommand("sign-login", "Sign a login to an index server");
  addCommon(signLoginCmd, true);
  signLoginCmd->add_option("--origin", origin, "Web origin the login is for")->required();
  signLoginCmd->add_option("--index-server", indexServer, "Index server URL")->required();
  signLoginCmd->add_option("--nonce", nonce, "Server nonce, base64 (16 to 64 bytes)")->required();
  signLoginCmd->add_option("--timestamp", timestamp, "Seconds since the epoch")->required();
  addDer(signLoginCmd);
  signLoginCmd->callback(
      [&] { run = [&] { return signLogin(o, origin, indexServer, nonce, timestamp); }; });

  auto* sealCmd = app.add_subcommand("seal", "Encrypt stdin for a private uri; prints base64");
  addCommon(sealCmd, true);
  sealCmd->add_option("--uri", uri, "The private p2pcp uri")->required();
  addSpace(sealCmd);
  sealCmd->callback([&] { run = [&] { return seal(o, uri); }; });

  auto* openCmd = app.add_subcommand("open", "Decrypt base64 from stdin; writes the plaintext");
  addCommon(openCmd, true);
  openCmd->add_option("--uri", uri, "The private p2pcp uri")->required();
  addSpace(openCmd);
  openCmd->callback([&] { run = [&] { return open(o, uri); }; });

  std::optional<std::string> algorithm;
  auto* signCmd =
      app.add_subcommand("sign", "Raw signature of stdin (only if policy allows raw signing)");
  addCommon(signCmd, true);
  signCmd->add_option("--algorithm", algorithm,
                      "rsa-pkcs1-sha256, rsa-pss-sha256, ecdsa-sha256, ecdsa-sha384 or ed25519");
  addDer(signCmd);
  signCmd->callback([&] { run = [&] { return sign(o, algorithm); }; });

  auto* loginCmd = app.add_subcommand("login", "Log in to a token now (asks for the PIN)");
  addCommon(loginCmd, true);
  loginCmd->add_option("--token", o.token, "PKCS#11 URI of the token");
  loginCmd->callback([&] { run = [&] { return login(o); }; });

  auto* lockCmd = app.add_subcommand("lock", "Log out of every token and wipe cached secrets");
  addCommon(lockCmd, false);
  lockCmd->callback([&] { run = [&] { return lock(o); }; });

  auto* consentsCmd = app.add_subcommand(
      "consents", "List the sites with access (and remembered denials); grant or revoke");
  addCommon(consentsCmd, false);
  std::string consentOrigin;
  auto* revokeCmd =
      consentsCmd->add_subcommand("revoke", "Revoke a site's access and forget a denial");
  revokeCmd->add_option("origin", consentOrigin, "e.g. https://app.example")->required();
  revokeCmd->add_flag("--json", o.json, "Print the agent's JSON result");
  bool full = false;
  std::optional<std::string> shareSpace;
  auto* grantCmd = consentsCmd->add_subcommand(
      "grant", "Give a site access now: site access (its own space), or --full");
  grantCmd->add_option("origin", consentOrigin, "e.g. https://app.example")->required();
  grantCmd->add_flag("--full", full,
                     "Full access: the site may use your whole p2pcp space (for your p2pcp app)");
  grantCmd->add_option("--space", shareSpace,
                       "Share the site space of this origin (one app on two hostnames)");
  grantCmd->add_flag("--json", o.json, "Print the agent's JSON result");
  consentsCmd->callback([&] {
    run = [&] {
      if (revokeCmd->parsed()) {
        return consentsRevoke(o, consentOrigin);
      }
      if (grantCmd->parsed()) {
        return consentsGrant(o, consentOrigin, full, shareSpace);
      }
      return consentsList(o);
    };
  });

  auto* pairingsCmd = app.add_subcommand(
      "pairings", "List the web pages paired with the WebSocket front door (and refusals); revoke");
  addCommon(pairingsCmd, false);
  std::string pairingOrigin;
  auto* unpairCmd = pairingsCmd->add_subcommand(
      "revoke", "Forget a page's pairing (closing its connections) or a refusal");
  unpairCmd->add_option("origin", pairingOrigin, "e.g. https://app.example")->required();
  unpairCmd->add_flag("--json", o.json, "Print the agent's JSON result");
  pairingsCmd->callback([&] {
    run = [&] { return unpairCmd->parsed() ? pairingsRevoke(o, pairingOrigin) : pairingsList(o); };
  });

  auto* defaultKeyCmd = app.add_subcommand(
      "default-key", "Show the default key (used without --key); set or clear your choice");
  addCommon(defaultKeyCmd, false);
  std::string defaultKey;
  auto* setDefaultCmd = defaultKeyCmd->add_subcommand(
      "set", "Choose the default key (kept by the agent, ahead of agent.json's defaultKey)");
  setDefaultCmd->add_option("key", defaultKey, "The key's PKCS#11 URI or fingerprint")->required();
  setDefaultCmd->add_flag("--json", o.json, "Print the agent's JSON result");
  auto* clearDefaultCmd = defaultKeyCmd->add_subcommand("clear", "Forget the chosen default key");
  clearDefaultCmd->add_flag("--json", o.json, "Print the agent's JSON result");
  defaultKeyCmd->callback([&] {
    run = [&] {
      if (setDefaultCmd->parsed()) {
        return defaultKeySet(o, defaultKey);
      }
      if (clearDefaultCmd->parsed()) {
        return defaultKeyClear(o);
      }
      return defaultKeyShow(o);
    };
  });

  auto* hostsCmd = app.add_subcommand(
      "install-browser-hosts",
      "Write the native-messaging host manifests for Chrome, Chromium, Edge, Brave and Firefox");
  hostsCmd->add_flag("--json", o.json, "Print what was written as JSON");
  HostInstallOptions hostOptions;
  hostsCmd->add_flag("--system", hostOptions.system, "For every user (run as root)");
  hostsCmd->add_flag("--uninstall", hostOptions.uninstall, "Remove the manifests");
  hostsCmd->add_option("--host", hostOptions.hostProgram,
                       "The host program (default: p2pcp-native-host beside p2pcp)");
  hostsCmd->add_option("--extension-id", hostOptions.extensionIds,
                       "Allowed extension id (repeatable; default: policy, else built-in)");
  hostsCmd->add_option("--user-data-dir", hostOptions.chromiumUserDataDir,
                       "Only for a Chromium started with this --user-data-dir");
  hostsCmd->callback([&] { run = [&] { return installBrowserHosts(o, hostOptions); }; });

  auto* doctorCmd = app.add_subcommand(
      "doctor", "Check the install: agent, socket, modules, tokens, browsers, policies, pinentry");
  doctorCmd->add_flag("--json", o.json, "Print the checks as JSON");
  doctorCmd->callback([&] { run = [&] { return p2pcp::cli::doctor::run(o.json); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  try {
    return run ? run() : kExitUsage;
  } catch (const p2pcp::client::AgentCallError& e) {
    return reportAgentError(e, o.json);
  } catch (const p2pcp::client::AgentUnavailable& e) {
    std::cerr << "p2pcp: AGENT_UNAVAILABLE: " << e.what() << '\n';
    return kExitUnavailable;
  } catch (const p2pcp::FramingError& e) {
    std::cerr << "p2pcp: AGENT_UNAVAILABLE: " << e.what() << '\n';
    return kExitUnavailable;
  } catch (const std::exception& e) {
    std::cerr << "p2pcp: " << e.what() << '\n';
    return kExitUsage;
  }
}
