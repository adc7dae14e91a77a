// SPDX-License-Identifier: Apache-2.0
// One message or one client cannot take the agent down or stall everyone: each
// attack runs against a real agent while a well-behaved client (its own
// connection, `hello` round trips) keeps being served. The worst latency it
// saw is printed and checked only as a hang detector (under 1 s); the latency
// target is bench/dos_bench.cpp's job.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "agent_harness.hpp"
#include "dos_kit.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
constexpr std::size_t kMiB = std::size_t{1024} * 1024U;
constexpr auto kHangDetector = std::chrono::seconds(1);

// The agent the harness starts inherits this process's environment: the
// test-only timeouts (P2PCP_TEST_*_TIMEOUT_MS) are set around its start.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(const std::map<std::string, std::string>& values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
      saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
      ::setenv(name.c_str(), value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;
  ScopedEnvironment(ScopedEnvironment&&) = delete;
  ScopedEnvironment& operator=(ScopedEnvironment&&) = delete;
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
      } else {
        ::unsetenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

std::string errorCodeOf(const std::optional<json>& reply) {
  if (!reply) {
    return "EOF";
  }
  return reply->contains("error") ? (*reply)["error"]["data"]["error"].get<std::string>() : "OK";
}

// Under AddressSanitizer the agent's freed memory waits in ASan's quarantine
// (256 MiB by default) and counts in its RSS: a small quarantine keeps the RSS
// bounds about the agent's own buffering.
std::map<std::string, std::string> forMemoryChecks(std::map<std::string, std::string> environment) {
#if defined(__SANITIZE_ADDRESS__)
  const char* options = std::getenv("ASAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe)
  environment["ASAN_OPTIONS"] =
      (options != nullptr && *options != '\0' ? std::string(options) + ":" : std::string()) +
      "quarantine_size_mb=16";
#endif
  return environment;
}

class AgentUnderAttack : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = AgentHarness::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
  }

  void startAgent(const std::map<std::string, std::string>& environment = {}) {
    const ScopedEnvironment scoped(environment);
    harness_ = std::make_unique<AgentHarness>();
  }

  // Logs in, so that seal runs on the I/O thread's quick path when it may.
  std::string logIn() {
    std::string key = harness_->keyUri("p256");
    (void)harness_->connect().call("deriveStorageKey",
                                   {{"key", key}, {"kind", "private"}, {"uri", "/warm"}});
    return key;
  }

  // The probe's verdict after an attack: it never failed, it was answered
  // while the attack ran, and no reply took near a second.
  static void expectServedThroughout(const HelloProbe& probe, Clock::time_point attackStart,
                                     Clock::time_point attackEnd, const std::string& attack) {
    EXPECT_EQ(probe.failure(), "") << attack;
    EXPECT_GT(probe.answeredBetween(attackStart, attackEnd), 0U)
        << "the well-behaved client got no reply during: " << attack;
    const auto samples = probe.samples();
    const auto summary = summarize(samples);
    const auto worst =
        std::max_element(samples.begin(), samples.end(),
                         [](const auto& a, const auto& b) { return a.latency < b.latency; });
    std::cout << "[ dos      ] " << attack << ": well-behaved client worst " << summary.maxMs
              << " ms (answered "
              << (worst == samples.end() ? 0.0 : toMs(worst->answeredAt - attackStart))
              << " ms into the attack), p99 " << summary.p99Ms << " ms over " << summary.count
              << " hellos\n";
    EXPECT_LT(probe.worst(), kHangDetector) << attack;
  }

  std::unique_ptr<AgentHarness> harness_;
};

// Deeply nested JSON (a 40 KB message takes the I/O thread's quick path, a
// 1 MB one a worker) is refused with a typed error, and nothing stops.
// NOTE: depends on the JSON parser's nesting behaviour; a depth-limited parser
// (parseStrictJson, in progress elsewhere) must keep this passing.
TEST_F(AgentUnderAttack, DeeplyNestedArraysAreRefusedWhileOthersAreServed) {
  startAgent();
  HelloProbe probe(harness_->socket());
  probe.waitForAnswers(5, milliseconds(5000));
  const auto start = Clock::now();
  const RawSocket attacker(harness_->socket());
  for (const std::size_t size : {std::size_t{40'000}, std::size_t{1'000'000}}) {
    attacker.sendBytes(frameOf(nestedArrays(size)));
    const auto reply = attacker.receive();
    const std::string code = errorCodeOf(reply);
    EXPECT_TRUE(code == "BAD_REQUEST" || code == "PARSE_ERROR") << size << " bytes: " << code;
  }
  attacker.sendRequest(request("after", "hello"));
  EXPECT_EQ(errorCodeOf(attacker.receive()), "OK") << "the attacker's own connection goes on";
  expectServedThroughout(probe, start, Clock::now(), "nested arrays (40 KB, 1 MB)");
  EXPECT_EQ(harness_->connect().call("hello")["protocol"], 1);
}

// Headers announcing 64 MiB on 16 connections: the agent allocates nothing it
// has not received (before: 16 x 64 MiB zeroed, +1 GiB).
TEST_F(AgentUnderAttack, HeadersAnnouncing64MiBCostNoMemory) {
  startAgent(forMemoryChecks({}));
  HelloProbe probe(harness_->socket());
  probe.waitForAnswers(5, milliseconds(5000));
  const std::size_t before = residentBytes(harness_->pid());
  const auto start = Clock::now();
  std::vector<RawSocket> attackers;
  for (int i = 0; i < 16; ++i) {
    attackers.emplace_back(harness_->socket());
    attackers.back().sendBytes(lengthPrefix(64U * kMiB) + R"({"jsonrpc":"2.0","id":)");
  }
  std::this_thread::sleep_for(milliseconds(500));
  const std::size_t during = residentBytes(harness_->pid());
  const std::size_t peak = peakResidentBytes(harness_->pid());
  std::cout << "[ dos      ] agent RSS before " << before / 1024 << " KiB, during " << during / 1024
            << " KiB, peak " << peak / 1024 << " KiB\n";
  EXPECT_LT(during, before + 64 * kMiB);
  EXPECT_LT(peak, before + 64 * kMiB);
  // Small requests never need the budget the attackers hold.
  EXPECT_EQ(harness_->connect().call("hello")["protocol"], 1);
  expectServedThroughout(probe, start, Clock::now(), "16 x 64 MiB headers");
}

// A stream of 16 MiB requests (seal of 12 MiB, answered with 16 MiB) is
// parsed, run and serialised off the I/O thread: the well-behaved client's
// hellos are answered between the moment each big request is sent and the
// moment its reply arrives (before: none, the I/O thread was busy with it).
TEST_F(AgentUnderAttack, A16MiBMessageStreamDoesNotStallOthers) {
  startAgent();
  const std::string key = logIn();
  HelloProbe probe(harness_->socket());
  probe.waitForAnswers(5, milliseconds(5000));
  const auto start = Clock::now();
  const RawSocket attacker(harness_->socket());
  const std::string plaintext(12 * kMiB, 'A');  // base64 of 9 MiB of zero bytes
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kMessages = 1;  // about 30 s each under ASan; the test's limit is 120 s
#else
  constexpr int kMessages = 3;
#endif
  std::size_t answeredMeanwhile = 0;
  for (int i = 0; i < kMessages; ++i) {
    const json big = request(i, "seal", {{"key", key}, {"uri", "/big"}, {"plaintext", plaintext}});
    const std::string frame = frameOf(big.dump());
    ASSERT_GT(frame.size(), 12 * kMiB);
    attacker.sendBytes(frame);
    const auto sent = Clock::now();
    const auto text = attacker.receiveText(milliseconds(120'000));
    const auto answered = Clock::now();
    ASSERT_TRUE(text);
    EXPECT_GT(text->size(), 12 * kMiB);
    EXPECT_EQ(text->find(R"("error")"), std::string::npos) << text->substr(0, 300);
    EXPECT_NE(text->find(R"("sealed")"), std::string::npos) << text->substr(0, 300);
    const std::size_t meanwhile = probe.answeredBetween(sent, answered);
    std::cout << "[ dos      ] 16 MiB message " << i << ": answered after " << toMs(answered - sent)
              << " ms; " << meanwhile << " hellos answered meanwhile\n";
    answeredMeanwhile += meanwhile;
  }
  EXPECT_GE(answeredMeanwhile, 20U * kMessages)
      << "the well-behaved client waited while the big requests were served";
  expectServedThroughout(probe, start, Clock::now(), "16 MiB message stream");
}

// 200 idle connections (more than the cap of 128): each new one evicts the
// stalest, so a CLI call still gets in (before: refused after 64).
TEST_F(AgentUnderAttack, TwoHundredIdleConnectionsDoNotLockOutTheCli) {
  startAgent();
  HelloProbe probe(harness_->socket());
  probe.waitForAnswers(5, milliseconds(5000));
  const auto start = Clock::now();
  std::vector<RawSocket> idle;
  idle.reserve(200);
  for (int i = 0; i < 200; ++i) {
    idle.emplace_back(harness_->socket());
  }
  std::this_thread::sleep_for(milliseconds(200));
  auto cli = harness_->connect();
  EXPECT_EQ(cli.call("hello", {{"client", "p2pcp"}})["protocol"], 1);
  EXPECT_EQ(cli.call("status").contains("pid"), true);
  EXPECT_NE(harness_->agentLog().find("connections: closed the one that completed no message"),
            std::string::npos)
      << harness_->agentLog();
  expectServedThroughout(probe, start, Clock::now(), "200 idle connections");
}

// An idle connection is closed after the idle timeout; one that subscribed to
// token events is not.
TEST_F(AgentUnderAttack, IdleConnectionsAreClosedButSubscribersStay) {
  startAgent({{"P2PCP_TEST_IDLE_TIMEOUT_MS", "1000"}});
  const RawSocket subscriber(harness_->socket());
  subscriber.sendRequest(request("sub", "subscribe"));
  ASSERT_EQ(errorCodeOf(subscriber.receive()), "OK");
  const auto start = Clock::now();
  const RawSocket idle(harness_->socket());
  EXPECT_TRUE(idle.waitForClose(milliseconds(10'000))) << "the idle connection stays open";
  const auto closedAfter = Clock::now() - start;
  EXPECT_GE(closedAfter, milliseconds(900));
  std::cout << "[ dos      ] idle connection closed after " << toMs(closedAfter) << " ms\n";
  std::this_thread::sleep_for(milliseconds(500));
  subscriber.sendRequest(request("still", "hello"));
  EXPECT_EQ(errorCodeOf(subscriber.receive()), "OK") << "the subscriber was closed";
}

// A client that sends requests with 1 MiB replies and never reads: the agent
// stops reading its requests once 16 MiB of replies are queued, keeps its own
// memory bounded, and closes it when its writes make no progress (2 s here).
TEST_F(AgentUnderAttack, AClientThatNeverReadsIsPausedThenClosed) {
  startAgent(forMemoryChecks({{"P2PCP_TEST_WRITE_TIMEOUT_MS", "2000"}}));
  const std::string key = logIn();
  HelloProbe probe(harness_->socket());
  probe.waitForAnswers(5, milliseconds(5000));
  const std::size_t before = residentBytes(harness_->pid());
  const auto start = Clock::now();
  const RawSocket attacker(harness_->socket());
  const std::string frame = frameOf(
      request(1, "seal", {{"key", key}, {"uri", "/r"}, {"plaintext", std::string(kMiB, 'A')}})
          .dump());
  constexpr int kRequests = 300;  // 300 MiB of replies if nothing held it back
  int sent = 0;
  while (sent < kRequests && attacker.trySendBytes(frame, milliseconds(1000))) {
    ++sent;
  }
  const std::size_t peak = peakResidentBytes(harness_->pid());
  std::cout << "[ dos      ] never-reading client: " << sent
            << " requests of 1 MiB taken; agent RSS before " << before / 1024 << " KiB, peak "
            << peak / 1024 << " KiB\n";
  EXPECT_LT(sent, kRequests) << "the agent kept reading a client that reads nothing";
  EXPECT_LT(peak, before + 128 * kMiB);
  EXPECT_TRUE(attacker.waitForHangUp(milliseconds(30'000)))
      << "the agent did not close a connection that reads nothing";
  std::size_t replies = 0;
  EXPECT_TRUE(attacker.waitForClose(milliseconds(5'000), &replies));
  EXPECT_LT(replies, static_cast<std::size_t>(sent)) << "every reply went out: nothing was held";
  EXPECT_NE(harness_->agentLog().find("read none of its replies"), std::string::npos)
      << harness_->agentLog();
  expectServedThroughout(probe, start, Clock::now(), "a client that never reads");
}

// Half a frame (or half a length prefix) and then nothing: the connection is
// closed once the frame timeout (1 s here) passes, freeing what it held.
TEST_F(AgentUnderAttack, HalfSentFramesAreClosedAfterTheFrameTimeout) {
  startAgent({{"P2PCP_TEST_FRAME_TIMEOUT_MS", "1000"}});
  HelloProbe probe(harness_->socket());
  probe.waitForAnswers(5, milliseconds(5000));
  const auto start = Clock::now();
  const RawSocket halfBody(harness_->socket());
  halfBody.sendBytes(lengthPrefix(1000) + std::string(500, ' '));
  const RawSocket halfHeader(harness_->socket());
  halfHeader.sendBytes(std::string("\0\0", 2));
  const RawSocket halfLarge(harness_->socket());
  halfLarge.sendBytes(lengthPrefix(8 * kMiB) + std::string(kMiB, ' '));
  for (const RawSocket* connection : {&halfBody, &halfHeader, &halfLarge}) {
    EXPECT_TRUE(connection->waitForClose(milliseconds(10'000))) << "a half frame is held forever";
  }
  const auto closedAfter = Clock::now() - start;
  EXPECT_GE(closedAfter, milliseconds(900));
  std::cout << "[ dos      ] half frames closed after " << toMs(closedAfter) << " ms\n";
  EXPECT_NE(harness_->agentLog().find("did not arrive whole within 1000 ms"), std::string::npos);
  expectServedThroughout(probe, start, Clock::now(), "half-sent frames");
}

}  // namespace
}  // namespace p2pcp::testing
