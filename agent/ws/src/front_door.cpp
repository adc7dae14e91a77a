// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/ws/front_door.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <vector>

#include "p2pcp/agent/log.hpp"
#include "peer_uid.hpp"
#include "ws_session.hpp"

namespace p2pcp::ws {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using agent::logInfo;
using agent::logWarning;

FrontDoor::FrontDoor(asio::io_context& io, agent::Dispatcher& dispatcher,
                     asio::thread_pool& workers, agent::ByteBudget& budget, std::uint16_t port,
                     FrontDoorLimits limits)
    : io_(io),
      dispatcher_(dispatcher),
      workers_(workers),
      budget_(budget),
      port_(port),
      limits_(limits) {}

FrontDoor::~FrontDoor() {
  stop();
}

std::optional<std::string> FrontDoor::open() {
  struct Address {
    asio::ip::address address;
    const char* shown;
  };
  const Address addresses[] = {{asio::ip::address_v4::loopback(), "127.0.0.1"},
                               {asio::ip::address_v6::loopback(), "[::1]"}};
  for (const auto& [address, shown] : addresses) {
    const tcp::endpoint endpoint(address, port_);
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    boost::system::error_code ec;
    const std::string where = std::string(shown) + ":" + std::to_string(port_);
    if (acceptor->open(endpoint.protocol(), ec); ec) {
      if (address.is_v6()) {
        logWarning("the WebSocket front door does not listen on " + where +
                   " (no IPv6: " + ec.message() + ")");
        continue;
      }
      acceptors_.clear();
      return "cannot open a socket for " + where + ": " + ec.message();
    }
    ::fcntl(acceptor->native_handle(), F_SETFD, FD_CLOEXEC);
    // A restarted agent may take the port while old connections linger in
    // TIME_WAIT; a port another program listens on stays refused (Linux).
    acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (address.is_v6()) {
      acceptor->set_option(asio::ip::v6_only(true), ec);
    }
    if (acceptor->bind(endpoint, ec); ec) {
      if (address.is_v6() && ec == boost::system::errc::address_not_available) {
        logWarning("the WebSocket front door does not listen on " + where +
                   " (no IPv6 loopback on this machine)");
        continue;
      }
      acceptors_.clear();
      return ec == asio::error::address_in_use
                 ? "port " + std::to_string(port_) + " is already in use on " + shown +
                       " (another agent or another program)"
                 : "cannot listen on " + where + ": " + ec.message();
    }
    if (acceptor->listen(asio::socket_base::max_listen_connections, ec); ec) {
      acceptors_.clear();
      return "cannot listen on " + where + ": " + ec.message();
    }
    acceptors_.push_back(std::move(acceptor));
  }
  for (auto& acceptor : acceptors_) {
    accept(*acceptor);
  }
  logInfo("the WebSocket front door listens on ws://127.0.0.1:" + std::to_string(port_) + "/");
  return std::nullopt;
}

void FrontDoor::stop() {
  boost::system::error_code ignored;
  for (auto& acceptor : acceptors_) {
    acceptor->close(ignored);
  }
  acceptors_.clear();
  const auto all = std::exchange(sessions_, {});
  refusing_ = 0;
  for (const auto& session : all) {
    session->close();
  }
}

void FrontDoor::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (ec) {
      logWarning("WebSocket accept failed: " + ec.message());
    } else if (::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC) != 0) {
      logWarning("cannot mark a WebSocket connection close-on-exec");
    } else if (const auto uid = loopbackPeerUid(socket); !uid || *uid != ::geteuid()) {
      // Loopback TCP is open to every user of the machine; this door, like the
      // Unix socket, serves the agent's own user only.
      ++otherUserRefusals_;
      if ((otherUserRefusals_ & (otherUserRefusals_ - 1)) == 0) {  // a power of two
        logWarning("refused a WebSocket connection from uid " +
                   (uid ? std::to_string(*uid) : std::string("(unknown)")) + " (" +
                   std::to_string(otherUserRefusals_) + " from other users so far)");
      }
    } else if (sessions_.size() - refusing_ < limits_.maxConnections) {
      admit(std::move(socket), false);
    } else if (refusing_ < limits_.maxRefusedAtOnce) {
      // At the cap: the client is told so (503) instead of a silent close, so
      // a page can say why. A flood of browser tabs never takes the Unix
      // socket's connections, which are counted apart.
      ++refusing_;
      admit(std::move(socket), true);
    } else {
      // Debug only: any web page can open connections until it gets here.
      agent::logDebug("refused a WebSocket connection: at the limit of " +
                      std::to_string(limits_.maxConnections) + " connections");
    }
    accept(acceptor);
  });
}

void FrontDoor::admit(tcp::socket socket, bool overCapacity) {
  auto session = std::make_shared<WsSession>(*this, std::move(socket), overCapacity);
  sessions_.insert(session);
  session->start();
}

void FrontDoor::broadcast(const nlohmann::json& event) {
  asio::post(io_, [this, event] {
    // notify() may close a session that does not read, which changes the set.
    const std::vector<std::shared_ptr<WsSession>> all(sessions_.begin(), sessions_.end());
    for (const auto& session : all) {
      session->notify(event);
    }
  });
}

void FrontDoor::closeOrigin(const std::string& origin) {
  asio::post(io_, [this, origin] {
    const std::vector<std::shared_ptr<WsSession>> all(sessions_.begin(), sessions_.end());
    for (const auto& session : all) {
      if (session->origin() == origin) {
        session->closeWith(boost::beast::websocket::close_code::policy_error, "pairing revoked");
      }
    }
  });
}

std::size_t FrontDoor::unpairedConnectionCount() const {
  return static_cast<std::size_t>(std::count_if(
      sessions_.begin(), sessions_.end(), [](const auto& session) { return session->unpaired(); }));
}

bool FrontDoor::anyRequestInFlight() const noexcept {
  return std::any_of(sessions_.begin(), sessions_.end(),
                     [](const auto& session) { return session->busy(); });
}

void FrontDoor::forget(const std::shared_ptr<WsSession>& session) {
  if (sessions_.erase(session) != 0 && session->overCapacity()) {
    --refusing_;
  }
}

}  // namespace p2pcp::ws
