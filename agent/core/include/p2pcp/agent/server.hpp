// SPDX-License-Identifier: Apache-2.0
#pragma once
// The agent's Unix-socket front: accepts same-user connections, reads
// length-prefixed JSON-RPC messages and writes replies and notifications back,
// all on one I/O thread, like ssh-agent. Token access is serialized anyway, so
// the I/O thread also serves every short request that would not wait: no
// thread hand-off, which on a loaded machine costs more than a token
// operation. A request that would wait (for the person, a PIN pad, or a
// token another thread holds) or may take long (key generation) runs on the
// worker pool instead, so neither a dialog nor key generation stops the
// agent; its reply comes back through the I/O thread.
//
// No client can take the I/O thread or the agent's memory for itself (see
// ServerLimits): a message's body buffer grows only as bytes arrive, large
// messages reserve their length from an agent-wide budget first, are parsed,
// run and serialised on a worker, and every connection has read, idle and
// write deadlines and a cap on queued replies.

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "p2pcp/agent/byte_budget.hpp"
#include "p2pcp/agent/dispatcher.hpp"

namespace p2pcp::agent {

class Connection;

// Defaults are the production values (docs/protocol.md, "Framing").
struct ServerLimits {
  // At the cap, a new connection evicts the stalest one (idle, or the one that
  // has gone longest without completing a message; connection.hpp), so a flood of
  // idle connections never locks out the CLI.
  std::size_t maxConnections = 128;
  std::size_t maxInFlightPerConnection = 16;
  std::size_t maxMessageBytes = std::size_t{64} * 1024U * 1024U;
  // Messages up to this size are read without the budget and served on the I/O
  // thread's quick path; larger ones reserve their length from maxBufferedBytes
  // and are parsed, run and serialised on a worker.
  std::size_t smallMessageBytes = std::size_t{64} * 1024U;
  // Bytes of large messages held agent-wide (at least maxMessageBytes).
  std::size_t maxBufferedBytes = std::size_t{256} * 1024U * 1024U;
  // How much a body buffer grows per read.
  std::size_t readChunkBytes = std::size_t{64} * 1024U;
  // Queued replies of one connection: above the soft cap the agent reads no new
  // request from it until the queue drains; at the hard cap it closes it.
  std::size_t writeQueueSoftBytes = std::size_t{16} * 1024U * 1024U;
  std::size_t writeQueueHardBytes = std::size_t{64} * 1024U * 1024U;
  // A frame must arrive whole within frameTimeout of its first byte.
  std::chrono::milliseconds frameTimeout{15000};
  // A connection with nothing in progress and no subscription is closed after this.
  std::chrono::milliseconds idleTimeout{60000};
  // A write that makes no progress for this long closes the connection.
  std::chrono::milliseconds writeTimeout{30000};
};

class Server {
 public:
  Server(boost::asio::io_context& io, boost::asio::local::stream_protocol::acceptor acceptor,
         Dispatcher& dispatcher, boost::asio::thread_pool& workers, ServerLimits limits = {});
  void start();
  void stop();
  // I/O thread only: how many clients are connected, and whether any request
  // runs (a dialog included: it belongs to a request) or any reply is queued.
  [[nodiscard]] std::size_t connectionCount() const noexcept { return connections_.size(); }
  [[nodiscard]] bool anyRequestInFlight() const noexcept;
  // I/O thread only: the agent-wide budget for large messages, which the
  // WebSocket front door (on the same I/O thread) draws from too.
  [[nodiscard]] ByteBudget& budget() noexcept { return budget_; }
  // Thread-safe: sends a notification to every connection that subscribed.
  void broadcast(const nlohmann::json& notification);

 private:
  friend class Connection;
  void accept();
  void admit(boost::asio::local::stream_protocol::socket socket);
  void evictStalest();
  void forget(const std::shared_ptr<Connection>& connection);

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  Dispatcher& dispatcher_;
  boost::asio::thread_pool& workers_;
  ServerLimits limits_;
  ByteBudget budget_;  // I/O thread only
  std::set<std::shared_ptr<Connection>> connections_;
};

}  // namespace p2pcp::agent
