// SPDX-License-Identifier: Apache-2.0
#pragma once
// One client connection of the agent's Unix-socket server (server.hpp): reads
// length-prefixed frames within the connection's budgets and deadlines, serves
// each request on the I/O thread or a worker, and writes replies and
// notifications back through a write queue. Internal to the agent core
// library (connection.cpp, server.cpp); the Server accepts, evicts and
// broadcasts.

#include <array>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/server.hpp"

namespace p2pcp::agent {

// A whole frame (length prefix and message), shared by every connection that
// sends it.
using Frame = std::shared_ptr<const std::string>;

// One reply or notification as a frame. Runs on the thread that made the reply:
// a multi-MiB dump must not hold up the I/O thread.
Frame toFrame(const nlohmann::json& message, std::size_t maxBytes);

// "1500 ms", for the log.
std::string inMs(std::chrono::milliseconds value);

// One client connection. Everything here runs on the I/O thread except the
// lambdas posted to the worker pool, which touch only the dispatcher and limits.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;
  using Clock = std::chrono::steady_clock;

  Connection(Server& server, Socket socket);

  void start();

  // Closes at once; handlers still pending find closed_ and stop there. `why`
  // goes to the log (empty for an ordinary end).
  void close(const std::string& why = {});

  [[nodiscard]] bool subscribed() const noexcept { return subscribed_; }
  // A request of this connection runs (or waits for the person), or a reply is queued.
  [[nodiscard]] bool busy() const noexcept { return inFlight_ > 0 || !writes_.empty(); }
  [[nodiscard]] Clock::time_point lastCompleted() const noexcept { return lastCompleted_; }

  // Which connection makes room at the cap, smallest first: one with no request
  // running and no reply queued before one being served (a CLI waiting for its
  // PIN dialog); one that never completed a message (idle, or dribbling a
  // frame) before one that did (a client that just paused, which a burst of
  // new connections would otherwise make look stale); then the one that has
  // gone longest without completing a message.
  [[nodiscard]] std::tuple<bool, bool, Clock::time_point> evictionRank() const noexcept {
    return {inFlight_ > 0 || !writes_.empty(), completedAny_, lastCompleted_};
  }

  // Queues a frame for the peer; closes a connection that does not read.
  void send(Frame frame);

  // The event as each of this connection's subscribers may see it.
  [[nodiscard]] std::vector<nlohmann::json> eventsFor(const nlohmann::json& event) const;

 private:
  // Reading.
  void readHeader();
  void readHeaderBytes();
  void onHeaderBytes(const boost::system::error_code& ec, std::size_t n);
  void onBudgetGranted();
  void readBody();
  void onBodyBytes(const boost::system::error_code& ec, std::size_t n);
  void onMessage();
  void endOfInput();
  void closeIfDone();

  // Serving.
  void serveSmall(const std::string& text);
  void serveLarge(std::string text, std::size_t reserved);
  void serveLargeOnWorker(std::string text, std::size_t reserved);
  template <typename Work>
  Frame runOnWorker(Work&& work) noexcept;
  void workDone(Frame frame, std::size_t reserved);
  void subscribe(const Request& request);

  // Writing.
  void writeNext();
  void onWritten(const boost::system::error_code& ec, std::size_t n);

  // An oversized message.
  void refuseOversized();
  void drain();
  void drainNext();

  // Deadlines.
  void startFrameClock();
  [[nodiscard]] bool idle() const noexcept;
  void watchIdle();
  void watch(Clock::time_point deadline);
  void check();

  Server& server_;
  const ServerLimits& limits_;
  Socket socket_;
  boost::asio::steady_timer timer_;
  Clock::time_point armedFor_ = Clock::time_point::max();

  // Reading: one frame at a time.
  std::array<std::uint8_t, 4> header_{};
  std::size_t headerHave_ = 0;
  std::size_t length_ = 0;
  std::string body_;
  std::size_t bodyHave_ = 0;
  std::size_t reserved_ = 0;  // budget held for the frame being read
  bool reading_ = false;
  bool frameInProgress_ = false;
  bool waitingForBudget_ = false;
  bool inputEnded_ = false;
  Clock::time_point frameStarted_;
  Clock::time_point lastCompleted_;  // the last whole message (or the connect)
  bool completedAny_ = false;
  Clock::time_point lastActivity_;  // for the idle deadline

  // Serving and writing.
  std::size_t inFlight_ = 0;
  std::deque<Frame> writes_;
  std::size_t writeOffset_ = 0;  // into writes_.front()
  std::size_t queuedBytes_ = 0;
  Clock::time_point writeProgress_;
  bool subscribed_ = false;
  // Bounded: the origins of one browser session, not an attacker's list.
  static constexpr std::size_t kMaxSubscriptions = 256;
  std::vector<Caller> subscriptions_;
  bool closed_ = false;

  // After an oversized message.
  static constexpr std::size_t kMaxDrain = std::size_t{1024} * 1024U;
  std::size_t drained_ = 0;
  bool refused_ = false;
};

}  // namespace p2pcp::agent
