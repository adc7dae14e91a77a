#pragma once
// The agent's Unix-socket front: accepts same-user connections, reads
// length-prefixed JSON-RPC messages, runs requests on the worker pool and
// writes replies and notifications back. All connection state lives on the
// single I/O thread; only Dispatcher::handle runs on workers.

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "p2pcp/agent/dispatcher.hpp"

namespace p2pcp::agent {

class Connection;

struct ServerLimits {
  std::size_t maxConnections = 64;
  std::size_t maxInFlightPerConnection = 16;
  std::size_t maxMessageBytes = 64U * 1024U * 1024U;
};

class Server {
 public:
  Server(boost::asio::io_context& io, boost::asio::local::stream_protocol::acceptor acceptor,
         Dispatcher& dispatcher, boost::asio::thread_pool& workers, ServerLimits limits = {});
  void start();
  void stop();
  // Thread-safe: sends a notification to every connection that subscribed.
  void broadcast(const nlohmann::json& notification);

 private:
  friend class Connection;
  void accept();
  void forget(const std::shared_ptr<Connection>& connection);

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  Dispatcher& dispatcher_;
  boost::asio::thread_pool& workers_;
  ServerLimits limits_;
  std::set<std::shared_ptr<Connection>> connections_;
};

}  // namespace p2pcp::agent
