// SPDX-License-Identifier: Apache-2.0
// A well-behaved client's latency while one client attacks the agent: its
// `hello` round trips (its own connection, a 2 ms pause between them) with no
// attack (the baseline, measured in the same run) and during each attack of
// tests/agent/dos_test.cpp, one line per attack with p50, p99 and max and their
// ratio to the baseline. The target: under 100 ms during every attack.
// Usage: p2pcp-dos-bench [--seconds N]   (how long each attack runs; default 3)
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"
#include "dos_kit.hpp"

using namespace p2pcp::testing;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kMiB = std::size_t{1024} * 1024U;
constexpr double kTargetMs = 100.0;
double seconds = 3.0;

Clock::time_point deadlineFromNow() {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Runs `attack` (which returns when it is over) while a probe measures; the
// probe's round trips that ended inside the attack count.
LatencySummary during(const AgentHarness& agent, const std::function<void()>& attack) {
  HelloProbe probe(agent.socket());
  probe.waitForAnswers(20, milliseconds(5000));
  const auto start = Clock::now();
  attack();
  const auto end = Clock::now();
  probe.stop();
  if (!probe.failure().empty()) {
    (void)std::fprintf(stderr, "the well-behaved client failed: %s\n", probe.failure().c_str());
  }
  std::vector<HelloProbe::Sample> inside;
  for (const auto& sample : probe.samples()) {
    if (sample.answeredAt > start && sample.answeredAt <= end) {
      inside.push_back(sample);
    }
  }
  return summarize(inside);
}

void report(const char* name, const LatencySummary& s, const LatencySummary& baseline) {
  std::printf("%-28s %7zu %9.2f %9.2f %9.2f   x%-7.1f x%-7.1f x%-7.1f %s\n", name, s.count, s.p50Ms,
              s.p99Ms, s.maxMs, s.p50Ms / baseline.p50Ms, s.p99Ms / baseline.p99Ms,
              s.maxMs / baseline.maxMs, s.maxMs < kTargetMs ? "met" : "NOT MET");
  (void)std::fflush(stdout);  // each line as its attack ends
}

// ---- the attacks (each runs for about `seconds`) ----------------------------

void nestedJson(const AgentHarness& agent) {
  const RawSocket attacker(agent.socket());
  const std::string small = frameOf(nestedArrays(40'000));
  const std::string large = frameOf(nestedArrays(1'000'000));
  for (const auto until = deadlineFromNow(); Clock::now() < until;) {
    for (const std::string* frame : {&small, &large}) {
      attacker.sendBytes(*frame);
      (void)attacker.receiveText();
    }
  }
}

void bigHeaders(const AgentHarness& agent) {
  std::vector<RawSocket> attackers;
  for (int i = 0; i < 16; ++i) {
    attackers.emplace_back(agent.socket());
    attackers.back().sendBytes(lengthPrefix(64U * kMiB) + R"({"jsonrpc":"2.0","id":)");
  }
  std::this_thread::sleep_until(deadlineFromNow());
}

void bigMessages(const AgentHarness& agent, const std::string& key) {
  const RawSocket attacker(agent.socket());
  const std::string frame =
      frameOf(request(1, "seal",
                      {{"key", key}, {"uri", "/big"}, {"plaintext", std::string(12 * kMiB, 'A')}})
                  .dump());
  for (const auto until = deadlineFromNow(); Clock::now() < until;) {
    attacker.sendBytes(frame);
    (void)attacker.receiveText(milliseconds(60'000));
  }
}

void idleConnections(const AgentHarness& agent) {
  std::vector<RawSocket> idle;
  idle.reserve(200);
  for (int i = 0; i < 200; ++i) {
    idle.emplace_back(agent.socket());
  }
  (void)agent.connect().call("hello", {{"client", "p2pcp"}});  // the CLI still gets in
  std::this_thread::sleep_until(deadlineFromNow());
}

void neverReads(const AgentHarness& agent, const std::string& key) {
  const RawSocket attacker(agent.socket());
  const std::string frame = frameOf(
      request(1, "seal", {{"key", key}, {"uri", "/r"}, {"plaintext", std::string(kMiB, 'A')}})
          .dump());
  const auto until = deadlineFromNow();
  while (Clock::now() < until && attacker.trySendBytes(frame, milliseconds(500))) {
  }
  std::this_thread::sleep_until(until);
}

void halfFrames(const AgentHarness& agent) {
  std::vector<RawSocket> attackers;
  for (int i = 0; i < 50; ++i) {
    attackers.emplace_back(agent.socket());
    attackers.back().sendBytes(i % 2 == 0 ? lengthPrefix(1000) + std::string(500, ' ')
                                          : std::string("\0\0", 2));
  }
  std::this_thread::sleep_until(deadlineFromNow());
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else {
      (void)std::fprintf(stderr, "usage: p2pcp-dos-bench [--seconds N]\n");
      return 2;
    }
  }
  if (auto missing = AgentHarness::missingPrerequisite()) {
    (void)std::fprintf(stderr, "cannot run: %s\n", missing->c_str());
    return 1;
  }
  try {
    AgentHarness agent;
    const std::string key = agent.keyUri("p256");
    (void)agent.connect().call("deriveStorageKey",
                               {{"key", key}, {"kind", "private"}, {"uri", "/warm"}});
    std::printf(
        "p2pcp DoS benchmark: a well-behaved client's hello latency (ms) during each attack, "
        "%.1f s each, %u hardware threads\n\n",
        seconds, std::thread::hardware_concurrency());
    std::printf("%-28s %7s %9s %9s %9s   %-8s %-8s %-8s %s\n", "attack", "hellos", "p50", "p99",
                "max", "p50/base", "p99/base", "max/base", "<100 ms");
    const LatencySummary baseline =
        during(agent, [] { std::this_thread::sleep_until(deadlineFromNow()); });
    report("none (baseline)", baseline, baseline);
    report("nested JSON 40 KB + 1 MB", during(agent, [&] { nestedJson(agent); }), baseline);
    report("16 x 64 MiB headers", during(agent, [&] { bigHeaders(agent); }), baseline);
    report("16 MiB message stream", during(agent, [&] { bigMessages(agent, key); }), baseline);
    report("200 idle connections", during(agent, [&] { idleConnections(agent); }), baseline);
    report("never-reading client", during(agent, [&] { neverReads(agent, key); }), baseline);
    report("50 half frames", during(agent, [&] { halfFrames(agent); }), baseline);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "benchmark failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
