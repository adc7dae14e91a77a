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
