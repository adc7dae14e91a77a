// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "p2pcp/agent/log.hpp"

namespace p2pcp::agent {

namespace asio = boost::asio;
using nlohmann::json;
using Socket = Connection::Socket;
using Clock = Connection::Clock;

namespace {

ServerLimits checked(ServerLimits limits) {
  // A large message must always fit the budget, or it would wait forever.
  limits.maxBufferedBytes = std::max(limits.maxBufferedBytes, limits.maxMessageBytes);
  limits.readChunkBytes = std::max<std::size_t>(limits.readChunkBytes, 1);
  limits.maxConnections = std::max<std::size_t>(limits.maxConnections, 1);
  return limits;
}

}  // namespace

Server::Server(asio::io_context& io, asio::local::stream_protocol::acceptor acceptor,
               Dispatcher& dispatcher, asio::thread_pool& workers, ServerLimits limits)
    : io_(io),
      acceptor_(std::move(acceptor)),
      dispatcher_(dispatcher),
      workers_(workers),
      limits_(checked(limits)),
      budget_(limits_.maxBufferedBytes) {}

void Server::start() {
  accept();
}

void Server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  const auto all = std::exchange(connections_, {});
  for (const auto& connection : all) {
    connection->close();
  }
}

void Server::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, Socket socket) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (!ec) {
      admit(std::move(socket));
    } else {
      logWarning("accept failed: " + ec.message());
    }
    accept();
  });
}

void Server::admit(Socket socket) {
  // Asio accepts without SOCK_CLOEXEC: a helper process started later must
  // not inherit this client's connection (the spawn closes stray descriptors
  // too; this covers every other exec).
  if (::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC) != 0) {
    logWarning(std::string("cannot mark a connection close-on-exec: ") + std::strerror(errno));
    return;
  }
  ucred peer{};
  socklen_t length = sizeof peer;
  const bool credentialsRead =
      ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0;
  if (!credentialsRead || peer.uid != ::geteuid()) {
    // The directory is 0700, so this is defence in depth (or root poking at us).
    logWarning("refused a connection from uid " + std::to_string(credentialsRead ? peer.uid : -1U));
    return;
  }
  if (connections_.size() >= limits_.maxConnections) {
    evictStalest();
  }
  auto connection = std::make_shared<Connection>(*this, std::move(socket));
  connections_.insert(connection);
  connection->start();
}

// At the cap, the stalest connection (Connection::evictionRank) makes room:
// idle or slow connections go, and a new one (the CLI's) always gets in.
void Server::evictStalest() {
  const auto stalest = std::min_element(
      connections_.begin(), connections_.end(),
      [](const auto& a, const auto& b) { return a->evictionRank() < b->evictionRank(); });
  if (stalest == connections_.end()) {
    return;
  }
  const auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(
      Clock::now() - (*stalest)->lastCompleted());
  (*stalest)->close("at the limit of " + std::to_string(limits_.maxConnections) +
                    " connections: closed the one that completed no message for " + inMs(quiet) +
                    " to let a new one in");
}

bool Server::anyRequestInFlight() const noexcept {
  return std::any_of(connections_.begin(), connections_.end(),
                     [](const auto& connection) { return connection->busy(); });
}

void Server::forget(const std::shared_ptr<Connection>& connection) {
  connections_.erase(connection);
}

void Server::broadcast(const json& notification) {
  asio::post(io_, [this, notification]() {
    // send() may close a connection that does not read, which changes the set.
    std::vector<std::shared_ptr<Connection>> subscribers;
    for (const auto& connection : connections_) {
      if (connection->subscribed()) {
        subscribers.push_back(connection);
      }
    }
    // Each subscriber gets the event in its own shape (a page: only with access,
    // without the token's identity), serialised once per shape.
    std::map<std::string, Frame> frames;
    for (const auto& connection : subscribers) {
      for (const auto& event : connection->eventsFor(notification)) {
        const std::string text = event.dump();
        auto& frame = frames[text];
        if (!frame) {
          frame = toFrame(event, limits_.maxMessageBytes);
        }
        connection->send(frame);
      }
    }
  });
}

}  // namespace p2pcp::agent
