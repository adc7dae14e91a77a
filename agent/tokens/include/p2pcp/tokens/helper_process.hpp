// SPDX-License-Identifier: Apache-2.0
#pragma once
// One PKCS#11 helper process (p2pcp-pkcs11-helper) as the agent sees it: a
// socket to a process that runs one vendor module. Calls are serialised, each
// bounded in time; a helper that dies, answers nonsense or takes longer than
// its bound is killed, and the next call starts a new one. The agent itself
// never maps vendor code.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace p2pcp::tokens {

// The module's helper is gone (crashed, hung and killed, or cannot start): its
// tokens are unavailable until it runs again. Maps to TOKEN_UNAVAILABLE.
class HelperUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The read end of a helper's slot-event pipe (one byte per event). Shared
// with the watcher that polls it, so a helper restarted meanwhile cannot close
// a descriptor the watcher is about to read (and whose number may be reused).
class SlotEvents {
 public:
  explicit SlotEvents(int fd) noexcept : fd_(fd) {}
  SlotEvents(const SlotEvents&) = delete;
  SlotEvents& operator=(const SlotEvents&) = delete;
  SlotEvents(SlotEvents&&) = delete;
  SlotEvents& operator=(SlotEvents&&) = delete;
  ~SlotEvents();
  [[nodiscard]] int fd() const noexcept { return fd_; }
  // Reads every byte waiting (non-blocking); whether there was any.
  bool drain() const;

 private:
  int fd_;
};

class HelperProcess {
 public:
  // `program` is the helper executable; `modulePath` the canonical module path.
  HelperProcess(std::filesystem::path program, std::string modulePath);
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;
  HelperProcess(HelperProcess&&) = delete;
  HelperProcess& operator=(HelperProcess&&) = delete;
  ~HelperProcess();

  // Sends `request` ({"op": ..., ...}) and waits up to `timeout` for its reply.
  // Starts the helper first when it is not running. Returns the reply's result;
  // throws the helper's typed error (Pkcs11Error, LayerError), or
  // HelperUnavailable. Members "pin" and "contextPin" of the request are wiped
  // once sent.
  nlohmann::json call(nlohmann::json request, std::chrono::milliseconds timeout);
  // The same, but only when no other call is in progress (nullopt otherwise):
  // a scan does not wait behind a slow or hanging operation.
  std::optional<nlohmann::json> tryCall(nlohmann::json request, std::chrono::milliseconds timeout);

  // Counts the helper's (re)starts: state learned from an earlier generation
  // (sessions, logins) died with its process.
  [[nodiscard]] std::uint64_t generation() const;
  [[nodiscard]] const std::string& modulePath() const noexcept { return modulePath_; }
  // The process id, or -1 when none runs (for tests and the status view).
  [[nodiscard]] pid_t pid() const;
  // The running helper's slot events; null when none runs. Never waits for a
  // call in progress.
  [[nodiscard]] std::shared_ptr<const SlotEvents> slotEvents() const;

 private:
  nlohmann::json callLocked(nlohmann::json request, std::chrono::milliseconds timeout);
  void startLocked();
  void stopLocked(const std::string& why);

  std::filesystem::path program_;
  std::string modulePath_;
  mutable std::mutex mutex_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::atomic<std::uint64_t> generation_ = 0;  // read without the lock
  std::int64_t nextId_ = 1;
  mutable std::mutex eventsMutex_;  // events_ only: never held during a call
  std::shared_ptr<const SlotEvents> events_;
};

// How long each kind of helper call may take before the helper counts as hung.
struct HelperTimeouts {
  std::chrono::milliseconds quick{10000};      // scan, describe, keys, logout
  std::chrono::milliseconds operation{60000};  // sign, derive, PIN login (slow cards)
  std::chrono::milliseconds person{300000};    // PIN pad login, key generation
};

}  // namespace p2pcp::tokens
