// SPDX-License-Identifier: Apache-2.0
#pragma once
// The loopback WebSocket front door: listens on 127.0.0.1 and ::1 (never any
// other address) on the configured port, on the agent's own io_context, and
// hands every request to the agent's one Dispatcher as a page request of the
// browser's Origin header, like the Unix socket hands the native host's.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "p2pcp/agent/byte_budget.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::ws {

class WsSession;

struct FrontDoorLimits {
  // Connections served at once: a browser keeps one per tab of a p2pcp app,
  // and a person with a couple of hundred tabs open is served. Past the cap a
  // client gets a plain 503 after its upgrade request (at most
  // maxRefusedAtOnce such answers pending; beyond that it is closed at once).
  std::size_t maxConnections = 256;
  std::size_t maxRefusedAtOnce = 32;
  // Of those, connections of pages whose origin is not paired: any web page
  // can open them, so they may not take the places of the person's paired
  // apps (past this, an unpaired page's upgrade gets 503 too).
  std::size_t maxUnpairedConnections = 32;
  // Before the upgrade: the request line and headers together, and the time
  // the whole upgrade request may take.
  std::size_t maxHeaderBytes = 8192;
  std::chrono::milliseconds upgradeTimeout{10000};
  // After it: one message (a JSON-RPC request) per text frame, at most this big:
  // what a page's hello announces as maxRequestBytes, as on the extension path.
  std::size_t maxMessageBytes = kMaxBrowserMessage;
  // Until its origin is paired a page may call only hello and pair, whose
  // requests are a few bytes: a larger message closes the connection (1009)
  // before it is read, so no web page can make the agent hold megabytes.
  std::size_t unpairedMessageBytes = std::size_t{16} * 1024U;
  // Messages up to this size are parsed and served on the I/O thread when they
  // would not wait; larger ones on a worker. A message that grows past it
  // reserves maxMessageBytes from the agent-wide budget before more of it is
  // read (and keeps its own size of it until its reply is made), so large
  // messages on both doors together never hold more than the budget.
  std::size_t smallMessageBytes = std::size_t{64} * 1024U;
  // A message must arrive whole within this long of its first bytes (the Unix
  // socket's frame timeout): a half-sent large message holds budget.
  std::chrono::milliseconds messageTimeout{15000};
  std::size_t maxInFlightPerConnection = 16;
  // Queued replies: above the soft cap no new request is read; at the hard cap
  // the connection is closed (it does not read its replies).
  std::size_t writeQueueSoftBytes = std::size_t{16} * 1024U * 1024U;
  std::size_t writeQueueHardBytes = std::size_t{64} * 1024U * 1024U;
  // Nothing in progress and nothing received for this long: closed.
  std::chrono::milliseconds idleTimeout{60000};
  // A write that makes no progress for this long closes the connection.
  std::chrono::milliseconds writeTimeout{30000};
};

class FrontDoor {
 public:
  FrontDoor(boost::asio::io_context& io, agent::Dispatcher& dispatcher,
            boost::asio::thread_pool& workers, agent::ByteBudget& budget, std::uint16_t port,
            FrontDoorLimits limits = {});
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;
  ~FrontDoor();

  // Binds and listens. nullopt on success; otherwise the reason nothing
  // listens (the port is in use, ...), and nothing does.
  [[nodiscard]] std::optional<std::string> open();
  void stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] bool listening() const noexcept { return !acceptors_.empty(); }
  // Thread-safe: a token event to every page that subscribed (shaped per page).
  void broadcast(const nlohmann::json& event);
  // Thread-safe: closes every connection of this origin (its pairing was
  // revoked) with 1008 policy violation, "pairing revoked".
  void closeOrigin(const std::string& origin);
  // I/O thread only.
  [[nodiscard]] std::size_t connectionCount() const noexcept { return sessions_.size(); }
  // Upgraded connections whose origin is not paired now (on the I/O thread).
  [[nodiscard]] std::size_t unpairedConnectionCount() const;
  [[nodiscard]] bool anyRequestInFlight() const noexcept;

 private:
  friend class WsSession;
  void accept(boost::asio::ip::tcp::acceptor& acceptor);
  void admit(boost::asio::ip::tcp::socket socket, bool overCapacity);
  void forget(const std::shared_ptr<WsSession>& session);

  boost::asio::io_context& io_;
  agent::Dispatcher& dispatcher_;
  boost::asio::thread_pool& workers_;
  agent::ByteBudget& budget_;  // the Unix socket's: one bound on large messages agent-wide
  std::uint16_t port_;
  FrontDoorLimits limits_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::set<std::shared_ptr<WsSession>> sessions_;
  std::size_t refusing_ = 0;  // sessions_ that only answer 503
  // Connections refused because another user of the machine opened them; the
  // log gets the 1st, 2nd, 4th, 8th... so that no local user can flood it.
  std::size_t otherUserRefusals_ = 0;
};

}  // namespace p2pcp::ws
