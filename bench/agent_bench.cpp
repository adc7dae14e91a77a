// Throughput of the agent against the raw token, measured in one run:
//   raw C_SignInit+C_Sign on SoftHSM2 (RSA-2048 PKCS#1 v1.5, ECDSA P-256),
//   the same signature through the agent's socket with 1 and 8 clients,
//   their ratio, and private storage key derivations per second with the
//   root secret cached.
// Usage: p2pcp-bench [--seconds N] | p2pcp-bench --raw-latency COUNT
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"
#include "p2pcp/common/digest.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/pkcs11/inventory.hpp"
#include "p2pcp/pkcs11/module.hpp"
#include "p2pcp/pkcs11/session.hpp"

using namespace p2pcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds = 3.0;

// Runs `op` on `threads` threads for the measuring time; returns operations per second.
template <typename MakeWorker>
double measure(int threads, MakeWorker makeWorker) {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto op = makeWorker(t);
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        op();
        ++n;
      }
      done += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) {
    t.join();
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

int main(int argc, char** argv) {
  int rawLatencyCount = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) {
      seconds = std::stod(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--raw-latency") == 0) {
      rawLatencyCount = std::stoi(argv[i + 1]);
    }
  }
  if (auto missing = testing::AgentHarness::missingPrerequisite()) {
    std::fprintf(stderr, "cannot run: %s\n", missing->c_str());
    return 77;
  }
  testing::AgentSetup setup;
  setup.policy = json{{"rawSigning", true}};
  testing::AgentHarness harness(setup);
  if (rawLatencyCount > 0) {
    ::setenv("SOFTHSM2_CONF", (harness.home() / "softhsm2.conf").c_str(), 1);
    return rawLatency(harness, rawLatencyCount);
  }
  // The benchmark process loads the same module on the same token for the raw baseline.
  ::setenv("SOFTHSM2_CONF", (harness.home() / "softhsm2.conf").c_str(), 1);

  const ByteView text = asBytes("a block write the agent signs, as bytes");
  const Bytes message(text.begin(), text.end());
  std::printf("p2pcp agent benchmark: %.1f s per figure, SoftHSM2, %u hardware threads\n\n",
              seconds, std::thread::hardware_concurrency());
  std::printf("%-10s %14s %14s %14s %8s %8s\n", "key", "raw C_Sign/s", "agent 1 cl/s",
              "agent 8 cl/s", "ratio 1", "ratio 8");

  auto module = pkcs11::Module::loadPath("/usr/lib/softhsm/libsofthsm2.so");
  pkcs11::Inventory inventory({module});
  inventory.refresh();
  for (const auto& [fixture, mechanism] : {std::pair{std::string("rsa2048"), CKM_RSA_PKCS},
                                           std::pair{std::string("p256"), CKM_ECDSA}}) {
    const std::string uri = harness.keyUri(fixture);
    auto [token, key] = inventory.findKey(uri);
    token->login(SecureString("4321-test-pin"));
    const Bytes input = rawInput(key.type, message);
    const double raw = measure(1, [&, token = token, key = key](int) {
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
    const double one = agentOps(1);
    const double eight = agentOps(8);
    std::printf("%-10s %14.0f %14.0f %14.0f %8.3f %8.3f\n", fixture.c_str(), raw, one, eight,
                one / raw, eight / raw);
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
