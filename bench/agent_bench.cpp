// SPDX-License-Identifier: Apache-2.0
// Throughput of the agent against the raw token and against OpenSSH's
// ssh-agent, measured in one run on one SoftHSM2 token with the same keys:
//   raw C_SignInit+C_Sign on SoftHSM2 (RSA-2048 PKCS#1 v1.5, ECDSA P-256),
//   the same signature through the agent's socket with 1 and 8 clients (the
//   agent signs on a worker, through its p2pcp-pkcs11-helper process), their
//   ratio, the same signature through ssh-agent and its ssh-pkcs11-helper
//   with 1 and 8 clients, the ratio p2pcp-agent / ssh-agent, and private
//   storage key derivations per second with the root secret cached.
// Usage: p2pcp-bench [--seconds N] | p2pcp-bench --raw-latency COUNT
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "agent_harness.hpp"
#include "p2pcp/common/digest.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/pkcs11/inventory.hpp"
#include "p2pcp/pkcs11/module.hpp"
#include "p2pcp/pkcs11/session.hpp"
#include "ssh_agent_client.hpp"
#include "ssh_agent_process.hpp"
#include "ssh_keys.hpp"

using namespace p2pcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds = 3.0;

// Runs `op` on `threads` threads for the measuring time; returns operations per second.
// The first error of any thread stops them all and is rethrown here, so a
// failed operation ends the run cleanly (children stopped) instead of aborting.
template <typename MakeWorker>
double measure(int threads, MakeWorker makeWorker) {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::mutex errorMutex;
  std::exception_ptr error;
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        auto op = makeWorker(t);
        long n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          op();
          ++n;
        }
        done += n;
      } catch (...) {
        const std::lock_guard lock(errorMutex);
        if (!error) {
          error = std::current_exception();
        }
        stop = true;
      }
    });
  }
  const auto until = start + std::chrono::duration<double>(seconds);
  while (!stop.load() && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& t : pool) {
    t.join();
  }
  if (error) {
    std::rethrow_exception(error);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(done.load()) / elapsed;
}

// The raw mechanism input the agent also produces: DigestInfo||H for RSA, H for ECDSA.
Bytes rawInput(pkcs11::KeyType type, ByteView message) {
  static constexpr std::array<std::uint8_t, 19> kSha256DigestInfo{
      0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
      0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
  const Sha256 hash = sha256(message);
  const std::size_t prefix = type == pkcs11::KeyType::Rsa ? kSha256DigestInfo.size() : 0;
  Bytes input(prefix + hash.size());
  std::copy_n(kSha256DigestInfo.begin(), prefix, input.begin());
  std::copy(hash.begin(), hash.end(), input.begin() + static_cast<std::ptrdiff_t>(prefix));
  return input;
}

}  // namespace

// The token's handle for the private half of `key`, found on `session`.
CK_OBJECT_HANDLE privateKeyHandle(pkcs11::Session& session, const pkcs11::KeyDescription& key) {
  CK_ATTRIBUTE idAttr{CKA_ID, const_cast<std::uint8_t*>(key.id.data()), key.id.size()};
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE clsAttr{CKA_CLASS, &cls, sizeof cls};
  std::array attrs{clsAttr, idAttr};
  return session.findObjects(attrs).at(0);
}

// --raw-latency N: the latency of N single raw P-256 signatures on the token,
// as JSON {"p50Us", "p99Us"}, the token's own share for bench/browser_bench.mjs.
int rawLatency(testing::AgentHarness& harness, int count) {
  auto module = pkcs11::Module::loadPath("/usr/lib/softhsm/libsofthsm2.so");
  pkcs11::Inventory inventory({module});
  inventory.refresh();
  auto [token, key] = inventory.findKey(harness.keyUri("p256"));
  token->login(SecureString("4321-test-pin"));
  const ByteView text = asBytes("a block write the agent signs, as bytes");
  const Bytes input = rawInput(key.type, Bytes(text.begin(), text.end()));
  pkcs11::Session session(token->module(), token->slot(), false);
  const CK_OBJECT_HANDLE handle = privateKeyHandle(session, key);
  CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
  std::vector<double> micros;
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    (void)session.sign(mech, handle, input);
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(micros.begin(), micros.end());
  const auto at = [&](double q) {
    return micros[static_cast<std::size_t>(q * static_cast<double>(micros.size() - 1))];
  };
  std::printf("{\"p50Us\": %.1f, \"p99Us\": %.1f}\n", at(0.50), at(0.99));
  return 0;
}

namespace {

constexpr const char* kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kPin = "4321-test-pin";

struct KeyFigures {
  std::string fixture;
  double raw = 0;
  double agent1 = 0;
  double agent8 = 0;
  std::optional<double> ssh1;  // empty when ssh-agent is not installed
  std::optional<double> ssh8;
};

// The SSH key blob of a fixture key, checked to be among the keys ssh-agent
// took from the token, so both agents sign with the very same key.
Bytes sshKeyBlobOnAgent(const std::filesystem::path& socket, EVP_PKEY* publicKey,
                        const std::string& fixture) {
  Bytes blob = bench::sshPublicKeyBlob(publicKey);
  for (const auto& identity : bench::SshAgentClient(socket).identities()) {
    if (identity.keyBlob == blob) {
      return blob;
    }
  }
  throw std::runtime_error("ssh-agent does not hold the token's " + fixture + " key");
}

// Signatures per second through ssh-agent with `threads` clients, each on its
// own connection; each client's first signature (outside the timing) must verify.
double sshAgentOps(const std::filesystem::path& socket, EVP_PKEY* publicKey, const Bytes& blob,
                   std::uint32_t flags, const Bytes& message, int threads) {
  return measure(threads, [&](int) {
    auto client = std::make_shared<bench::SshAgentClient>(socket);
    if (!bench::verifySshSignature(publicKey, client->sign(blob, message, flags), message)) {
      throw std::runtime_error("ssh-agent's signature does not verify");
    }
    return [client, &blob, &message, flags] { (void)client->sign(blob, message, flags); };
  });
}

double microsPer(double opsPerSecond) {
  return 1e6 / opsPerSecond;
}

int run(int argc, char** argv) {
  int rawLatencyCount = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) {
      seconds = std::stod(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--raw-latency") == 0) {
      rawLatencyCount = std::stoi(argv[i + 1]);
    }
  }
  if (auto missing = testing::AgentHarness::missingPrerequisite()) {
    (void)std::fprintf(stderr, "cannot run: %s\n", missing->c_str());
    return 77;
  }
  testing::AgentSetup setup;
  setup.policy = json{{"rawSigning", true}};
  testing::AgentHarness harness(setup);
  // The benchmark process, and ssh-agent's helper, load the same module on the same token.
  if (::setenv("SOFTHSM2_CONF", (harness.home() / "softhsm2.conf").c_str(), 1) != 0) {
    throw std::runtime_error("cannot set SOFTHSM2_CONF");
  }
  if (rawLatencyCount > 0) {
    return rawLatency(harness, rawLatencyCount);
  }

  // Declared after the harness: stopped (by its pid) before the harness deletes its directory.
  std::optional<bench::SshAgentProcess> sshAgent;
  const auto sshMissing = bench::SshAgentProcess::missingPrerequisite();
  if (!sshMissing) {
    sshAgent.emplace(harness.home());
    sshAgent->addPkcs11Provider(kSoftHsm, kPin);
  }

  const ByteView text = asBytes("a block write the agent signs, as bytes");
  const Bytes message(text.begin(), text.end());
  std::printf("p2pcp agent benchmark: %.1f s per figure, SoftHSM2, %u hardware threads\n\n",
              seconds, std::thread::hardware_concurrency());

  auto module = pkcs11::Module::loadPath(kSoftHsm);
  pkcs11::Inventory inventory({module});
  inventory.refresh();
  std::vector<KeyFigures> figures;
  for (const auto& [fixture, mechanism, sshFlags] :
       {std::tuple{std::string("rsa2048"), CKM_RSA_PKCS, bench::kSshAgentRsaSha2_256},
        std::tuple{std::string("p256"), CKM_ECDSA, std::uint32_t{0}}}) {
    KeyFigures row;
    row.fixture = fixture;
    const std::string uri = harness.keyUri(fixture);
    auto [token, key] = inventory.findKey(uri);
    token->login(SecureString(kPin));
    const Bytes input = rawInput(key.type, message);
    row.raw = measure(1, [&, token = token, key = key, mechanism = mechanism](int) {
      pkcs11::Session session(token->module(), token->slot(), false);
      const CK_OBJECT_HANDLE handle = privateKeyHandle(session, key);
      CK_MECHANISM mech{mechanism, nullptr, 0};
      return [session = std::make_shared<pkcs11::Session>(std::move(session)), handle, mech,
              &input] { (void)session->sign(mech, handle, input); };
    });
    const json params = {{"key", uri}, {"message", toBase64(message)}};
    const auto agentOps = [&](int threads) {
      return measure(threads, [&](int) {
        auto client = std::make_shared<client::AgentClient>(harness.connect());
        client->call("sign", params);  // warm: login happens here, outside the timing
        return [client, &params] { (void)client->call("sign", params); };
      });
    };
    // Interleaved, so the machine's drift falls on both agents alike.
    row.agent1 = agentOps(1);
    if (sshAgent) {
      const auto publicKey =
          bench::readPublicKeyPem(std::string(P2PCP_FIXTURES_DIR) + "/" + fixture + ".pub.pem");
      const Bytes blob = sshKeyBlobOnAgent(sshAgent->socket(), publicKey.get(), fixture);
      row.ssh1 = sshAgentOps(sshAgent->socket(), publicKey.get(), blob, sshFlags, message, 1);
      row.agent8 = agentOps(8);
      row.ssh8 = sshAgentOps(sshAgent->socket(), publicKey.get(), blob, sshFlags, message, 8);
    } else {
      row.agent8 = agentOps(8);
    }
    figures.push_back(row);
  }

  std::printf("%-10s %14s %14s %14s %8s %8s\n", "key", "raw C_Sign/s", "agent 1 cl/s",
              "agent 8 cl/s", "ratio 1", "ratio 8");
  for (const auto& row : figures) {
    std::printf("%-10s %14.0f %14.0f %14.0f %8.3f %8.3f\n", row.fixture.c_str(), row.raw,
                row.agent1, row.agent8, row.agent1 / row.raw, row.agent8 / row.raw);
  }
  if (sshMissing) {
    std::printf("\nssh-agent comparison skipped: %s\n", sshMissing->c_str());
  } else {
    std::printf(
        "\nOpenSSH ssh-agent + ssh-pkcs11-helper, same token and keys (ratio: p2pcp / ssh):\n");
    std::printf("%-10s %14s %14s %14s %14s %8s %8s\n", "key", "p2pcp 1 cl/s", "ssh 1 cl/s",
                "p2pcp 8 cl/s", "ssh 8 cl/s", "ratio 1", "ratio 8");
    for (const auto& row : figures) {
      std::printf("%-10s %14.0f %14.0f %14.0f %14.0f %8.3f %8.3f\n", row.fixture.c_str(),
                  row.agent1, *row.ssh1, row.agent8, *row.ssh8, row.agent1 / *row.ssh1,
                  row.agent8 / *row.ssh8);
    }
  }
  std::printf("\ntime per signature, 1 client (what each agent adds to the raw C_Sign):\n");
  for (const auto& row : figures) {
    std::printf("%-10s raw %6.1f us, p2pcp-agent %6.1f us (+%.1f)", row.fixture.c_str(),
                microsPer(row.raw), microsPer(row.agent1),
                microsPer(row.agent1) - microsPer(row.raw));
    if (row.ssh1) {
      std::printf(", ssh-agent %6.1f us (+%.1f)", microsPer(*row.ssh1),
                  microsPer(*row.ssh1) - microsPer(row.raw));
    }
    std::printf("\n");
  }

  const std::string p256 = harness.keyUri("p256");
  const auto deriveOps = [&](int threads) {
    return measure(threads, [&](int t) {
      auto client = std::make_shared<client::AgentClient>(harness.connect());
      auto counter = std::make_shared<long>(0);
      client->call("deriveStorageKey", {{"key", p256}, {"kind", "private"}, {"uri", "/warm"}});
      return [client, counter, t, &p256] {
        (void)client->call("deriveStorageKey",
                           {{"key", p256},
                            {"kind", "private"},
                            {"uri", "/t" + std::to_string(t) + "/" + std::to_string(++*counter)}});
      };
    });
  };
  std::printf("\nprivate storage key derivations/s (root cached): 1 client %.0f, 8 clients %.0f\n",
              deriveOps(1), deriveOps(8));
  const double hello = measure(1, [&](int) {
    auto client = std::make_shared<client::AgentClient>(harness.connect());
    return [client] { (void)client->call("hello"); };
  });
  std::printf("agent round trip without the token (hello): %.0f/s = %.1f us\n", hello, 1e6 / hello);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Reached after the agents were stopped: their owners are out of scope.
    (void)std::fprintf(stderr, "p2pcp-bench: %s\n", e.what());
    return 1;
  }
}
