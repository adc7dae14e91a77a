// SPDX-License-Identifier: Apache-2.0
#pragma once
// Attacks on the agent's socket, and a well-behaved client to watch while they
// run: shared by tests/agent/dos_test.cpp (which asserts) and
// bench/dos_bench.cpp (which measures).

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace p2pcp::testing {

using Clock = std::chrono::steady_clock;

// A raw connection to the agent, for bytes the client library would never send.
class RawSocket {
 public:
  explicit RawSocket(const std::filesystem::path& socket);
  RawSocket(RawSocket&& other) noexcept;
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  RawSocket& operator=(RawSocket&&) = delete;
  ~RawSocket();

  void sendBytes(std::string_view bytes) const;  // blocks until written; throws on error
  // Writes as much as the peer takes; false when a write made no progress for
  // `stall` (the peer stopped reading) or the connection failed.
  [[nodiscard]] bool trySendBytes(std::string_view bytes, std::chrono::milliseconds stall) const;
  void sendRequest(const nlohmann::json& message) const;
  // The next message; nullopt at end of stream. Throws after `timeout`.
  [[nodiscard]] std::optional<nlohmann::json> receive(
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // The same, unparsed (parsing many MiB in a debug build takes seconds).
  [[nodiscard]] std::optional<std::string> receiveText(
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // Waits, reading nothing, until the peer hangs up; true when it did within `timeout`.
  [[nodiscard]] bool waitForHangUp(std::chrono::milliseconds timeout) const;
  // Reads and drops whatever comes until the peer closes; true when it closed
  // within `timeout`. `frames` counts the whole messages seen on the way.
  [[nodiscard]] bool waitForClose(std::chrono::milliseconds timeout,
                                  std::size_t* frames = nullptr) const;

 private:
  int fd_ = -1;
};

// A 4-byte big-endian length prefix, and a whole frame.
std::string lengthPrefix(std::uint32_t length);
std::string frameOf(std::string_view text);
// `[[[...]]]` of `bytes` characters.
std::string nestedArrays(std::size_t bytes);
// A JSON-RPC request.
nlohmann::json request(const nlohmann::json& id, const std::string& method,
                       const nlohmann::json& params = nlohmann::json::object());

// A client that sends `hello` and waits for its reply, over and over, on its
// own connection, and records every round trip.
class HelloProbe {
 public:
  struct Sample {
    Clock::time_point answeredAt;
    Clock::duration latency;
  };

  explicit HelloProbe(const std::filesystem::path& socket);
  HelloProbe(const HelloProbe&) = delete;
  HelloProbe& operator=(const HelloProbe&) = delete;
  HelloProbe(HelloProbe&&) = delete;
  HelloProbe& operator=(HelloProbe&&) = delete;
  ~HelloProbe();

  // Stops after the round trip in progress.
  void stop();
  // Waits until at least n round trips are done (or the probe failed).
  void waitForAnswers(std::size_t n, std::chrono::milliseconds timeout) const;
  [[nodiscard]] std::vector<Sample> samples() const;
  [[nodiscard]] std::size_t answeredBetween(Clock::time_point from, Clock::time_point to) const;
  [[nodiscard]] Clock::duration worst() const;
  // Empty while every reply came back right; else what went wrong.
  [[nodiscard]] std::string failure() const;

 private:
  void run(const std::filesystem::path& socket);

  mutable std::mutex mutex_;
  std::vector<Sample> samples_;
  std::string failure_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

struct LatencySummary {
  std::size_t count = 0;
  double p50Ms = 0;
  double p99Ms = 0;
  double maxMs = 0;
};
LatencySummary summarize(const std::vector<HelloProbe::Sample>& samples);
double toMs(Clock::duration d);

// /proc/<pid>/status: VmRSS (now) and VmHWM (the peak so far), in bytes.
std::size_t residentBytes(pid_t pid);
std::size_t peakResidentBytes(pid_t pid);

}  // namespace p2pcp::testing
