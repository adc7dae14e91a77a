// SPDX-License-Identifier: Apache-2.0
#pragma once
// One WebSocket client of the front door (front_door.hpp): reads the upgrade
// request within its limits and checks it (upgrade_check.hpp), then reads one
// JSON-RPC request per text frame, serves it through the agent's Dispatcher
// as a page request of the Origin header, and writes the replies back through
// a bounded queue. Everything runs on the I/O thread except what is posted to
// the workers, which touches only the dispatcher.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/ws/front_door.hpp"

namespace p2pcp::ws {

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  using Clock = std::chrono::steady_clock;
  // overCapacity: the door is full; the upgrade request is read and answered 503.
  WsSession(FrontDoor& door, boost::asio::ip::tcp::socket socket, bool overCapacity);

  void start();
  // Closes at once (no close handshake); pending handlers find closed_.
  void close(const std::string& why = {});
  [[nodiscard]] bool overCapacity() const noexcept { return overCapacity_; }
  [[nodiscard]] bool busy() const noexcept { return inFlight_ > 0 || !writes_.empty(); }
  // I/O thread: a token event, sent shaped for this page if it subscribed.
  void notify(const nlohmann::json& event);
  // The page's origin once upgraded (empty before).
  [[nodiscard]] std::string origin() const { return upgraded_ ? caller_.origin.value_or("") : ""; }
  // Upgraded, and its origin is not paired (now).
  [[nodiscard]] bool unpaired() const;
  // Ends the connection with a close frame once the replies already queued are
  // written (a WebSocket allows one write at a time).
  void closeWith(boost::beast::websocket::close_code code, const std::string& why);

 private:
  // Before the upgrade.
  void onUpgradeRequest(const boost::system::error_code& ec);
  void refuse(boost::beast::http::status status, const std::string& why);
  void onAccepted(const boost::system::error_code& ec);

  // After it.
  void readNext();
  void readMore();
  void onRead(const boost::system::error_code& ec);
  void onMessage();
  void serve(std::string text, std::size_t reserved);
  void serveOnWorker(std::string text, std::size_t reserved);
  void workDone(std::string reply, std::size_t reserved);
  void send(std::string text);
  void writeNext();
  void onWritten(const boost::system::error_code& ec);
  // Request::notify for this connection: queues a notification from a worker.
  void attachNotify(agent::Request& request);

  // Nothing running, nothing queued, no subscription: the idle deadline applies.
  [[nodiscard]] bool idle() const noexcept {
    return inFlight_ == 0 && writes_.empty() && !subscribed_;
  }

  // Deadlines after the upgrade.
  void watch();
  void check();

  FrontDoor& door_;
  const FrontDoorLimits& limits_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::empty_body>> parser_;
  boost::asio::steady_timer timer_;
  agent::Caller caller_;
  const bool overCapacity_;
  bool upgraded_ = false;
  bool upgradeTimedOut_ = false;
  bool reading_ = false;
  bool subscribed_ = false;
  bool closing_ = false;  // a close frame is sent or about to be: read and write no more
  bool closed_ = false;
  std::size_t inFlight_ = 0;
  // Bytes of the agent-wide budget the message being read holds, and whether
  // it waits for them (reading paused).
  std::size_t reserved_ = 0;
  bool waitingForBudget_ = false;
  std::optional<Clock::time_point> messageStarted_;  // a message is partly read
  std::deque<std::string> writes_;
  bool writing_ = false;
  std::size_t queuedBytes_ = 0;
  std::optional<boost::beast::websocket::close_reason> closeAfterWrites_;
  Clock::time_point lastActivity_;
  Clock::time_point writeStarted_;
};

}  // namespace p2pcp::ws
