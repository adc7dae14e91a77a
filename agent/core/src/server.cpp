#include "p2pcp/agent/server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <deque>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::agent {

namespace asio = boost::asio;
using nlohmann::json;
using Socket = asio::local::stream_protocol::socket;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, Socket socket) : server_(server), socket_(std::move(socket)) {}

  void start() { readHeader(); }
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  [[nodiscard]] bool subscribed() const noexcept { return subscribed_; }

  void send(const json& message) {
    std::string frame;
    try {
      // Replies can carry base64 of a whole block; error_handler::replace keeps a reply
      // with invalid UTF-8 from a token label from throwing here.
      frame = makeFrame(message.dump(-1, ' ', false, json::error_handler_t::replace),
                        LengthOrder::BigEndian, server_.limits_.maxMessageBytes);
    } catch (const FramingError&) {
      frame =
          makeFrame(errorResponse(message.value("id", json()),
                                  AgentError(ErrorCode::MessageTooLarge, "the reply is too large"))
                        .dump(),
                    LengthOrder::BigEndian, server_.limits_.maxMessageBytes);
    }
    writes_.push_back(std::move(frame));
    if (writes_.size() == 1) {
      writeNext();
    }
  }

 private:
  void readHeader() {
    if (closing_ || readPending_ || inFlight_ >= server_.limits_.maxInFlightPerConnection) {
      return;  // resumed when a reply goes out (back-pressure on a client that floods us)
    }
    readPending_ = true;
    asio::async_read(socket_, asio::buffer(header_),
                     [self = shared_from_this()](const boost::system::error_code& ec,
                                                 std::size_t /*n*/) { self->onHeader(ec); });
  }

  void onHeader(const boost::system::error_code& ec) {
    if (ec) {
      readPending_ = false;
      finish();
      return;
    }
    const std::uint32_t length = decodeLength(header_.data(), LengthOrder::BigEndian);
    if (length > server_.limits_.maxMessageBytes) {
      // We cannot skip 4 GiB that may never come: answer and hang up.
      readPending_ = false;
      draining_ = true;
      send(errorResponse(
          nullptr, AgentError(ErrorCode::MessageTooLarge,
                              "messages are limited to " +
                                  std::to_string(server_.limits_.maxMessageBytes) + " bytes")));
      return;
    }
    body_.assign(length, '\0');
    asio::async_read(
        socket_, asio::buffer(body_),
        [self = shared_from_this()](const boost::system::error_code& error, std::size_t /*n*/) {
          self->readPending_ = false;
          if (error) {
            self->finish();  // truncated message: nothing to answer
            return;
          }
          self->onMessage();
        });
  }

  void onMessage() {
    auto parsed = parseRequest(body_);
    body_.clear();
    body_.shrink_to_fit();
    if (auto* error = std::get_if<json>(&parsed)) {
      send(*error);
      readHeader();
      return;
    }
    auto request = std::get<Request>(std::move(parsed));
    if (request.method == "subscribe") {
      subscribed_ = true;
      send(resultResponse(request.id, {{"subscribed", true}}));
      readHeader();
      return;
    }
    // The common request (logged in, consent given) is served right here: a hand-off
    // to a worker and back costs two thread wake-ups, more than many token operations.
    if (auto reply = server_.dispatcher_.tryHandleQuickly(request)) {
      send(*reply);
      readHeader();
      return;
    }
    ++inFlight_;
    asio::post(server_.workers_,
               [self = shared_from_this(), request = std::move(request)]() mutable {
                 json reply = self->server_.dispatcher_.handle(request);
                 asio::post(self->server_.io_, [self, reply = std::move(reply)]() {
                   --self->inFlight_;
                   self->send(reply);
                   self->readHeader();
                 });
               });
    readHeader();  // requests on one connection may run concurrently; ids tell replies apart
  }

  void writeNext() {
    asio::async_write(
        socket_, asio::buffer(writes_.front()),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t /*n*/) {
          self->writes_.pop_front();
          if (ec) {
            self->writes_.clear();
            self->closing_ = true;
            self->finish();
            return;
          }
          if (!self->writes_.empty()) {
            self->writeNext();
          } else if (self->draining_) {
            self->drain();
          } else if (self->closing_) {
            self->finish();
          }
        });
  }

  // After refusing an oversized message: send FIN, then read and discard what the
  // peer is still sending for a bounded amount, so closing does not reset the
  // connection (a reset would destroy the error reply before the peer reads it).
  void drain() {
    draining_ = false;
    closing_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
    readPending_ = true;
    body_.assign(std::size_t{64} * 1024U, '\0');
    drainNext();
  }

  void drainNext() {
    socket_.async_read_some(
        asio::buffer(body_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ > kMaxDrain) {
            self->readPending_ = false;
            self->finish();
            return;
          }
          self->drainNext();
        });
  }

  // Drops the connection once nothing is pending on it.
  void finish() {
    closing_ = true;
    if (inFlight_ == 0 && writes_.empty() && !readPending_) {
      close();
      server_.forget(shared_from_this());
    } else if (!writes_.empty() || inFlight_ > 0) {
      // Let the replies drain; the read side is done.
      boost::system::error_code ignored;
      socket_.shutdown(Socket::shutdown_receive, ignored);
    }
  }

  Server& server_;
  Socket socket_;
  std::array<std::uint8_t, 4> header_{};
  std::string body_;
  std::deque<std::string> writes_;
  std::size_t inFlight_ = 0;
  static constexpr std::size_t kMaxDrain = std::size_t{1024} * 1024U;
  std::size_t drained_ = 0;
  bool readPending_ = false;
  bool closing_ = false;
  bool draining_ = false;
  bool subscribed_ = false;
};

Server::Server(asio::io_context& io, asio::local::stream_protocol::acceptor acceptor,
               Dispatcher& dispatcher, asio::thread_pool& workers, ServerLimits limits)
    : io_(io),
      acceptor_(std::move(acceptor)),
      dispatcher_(dispatcher),
      workers_(workers),
      limits_(limits) {}

void Server::start() {
  accept();
}

void Server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& connection : connections_) {
    connection->close();
  }
  connections_.clear();
}

void Server::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, Socket socket) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (!ec) {
      ucred peer{};
      socklen_t length = sizeof peer;
      const bool credentialsRead =
          ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0;
      if (!credentialsRead || peer.uid != ::geteuid()) {
        // The directory is 0700, so this is defence in depth (or root poking at us).
        logWarning("refused a connection from uid " +
                   std::to_string(credentialsRead ? peer.uid : -1U));
      } else if (connections_.size() >= limits_.maxConnections) {
        logWarning("refused a connection: too many open connections");
      } else {
        auto connection = std::make_shared<Connection>(*this, std::move(socket));
        connections_.insert(connection);
        connection->start();
      }
    } else {
      logWarning("accept failed: " + ec.message());
    }
    accept();
  });
}

void Server::forget(const std::shared_ptr<Connection>& connection) {
  connections_.erase(connection);
}

void Server::broadcast(const json& notification) {
  asio::post(io_, [this, notification]() {
    for (const auto& connection : connections_) {
      if (connection->subscribed()) {
        connection->send(notification);
      }
    }
  });
}

}  // namespace p2pcp::agent
