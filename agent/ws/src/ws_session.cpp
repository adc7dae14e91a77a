// SPDX-License-Identifier: Apache-2.0
#include "ws_session.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <future>
#include <utility>
#include <variant>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_rpc.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/ws/message.hpp"
#include "p2pcp/ws/upgrade_check.hpp"

namespace p2pcp::ws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using agent::AgentError;
using agent::ErrorCode;
using agent::Request;
using nlohmann::json;

namespace {

// How long the agent tries to deliver a refusal or a close frame to a client
// that does not read.
constexpr auto kGoodbyeTimeout = std::chrono::seconds(2);

std::string serialised(const json& message) {
  // A token label with invalid UTF-8 must not make the reply throw.
  return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

WsSession::WsSession(FrontDoor& door, asio::ip::tcp::socket socket, bool overCapacity)
    : door_(door),
      limits_(door.limits_),
      ws_(std::move(socket)),
      timer_(ws_.get_executor()),
      overCapacity_(overCapacity),
      lastActivity_(Clock::now()) {}

void WsSession::start() {
  parser_.emplace();
  limitUpgradeParser(*parser_, limits_.maxHeaderBytes);
  buffer_.max_size(limits_.maxHeaderBytes);
  timer_.expires_after(limits_.upgradeTimeout);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->upgraded_ && !self->closed_) {
      self->upgradeTimedOut_ = true;
      boost::system::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().cancel(ignored);
    }
  });
  http::async_read(beast::get_lowest_layer(ws_), buffer_, *parser_,
                   [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                     self->onUpgradeRequest(ec);
                   });
}

void WsSession::close(const std::string& why) {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (!why.empty()) {
    agent::logWarning(why);
  }
  timer_.cancel();
  beast::get_lowest_layer(ws_).close();
  if (reserved_ > 0) {
    door_.budget_.release(std::exchange(reserved_, 0));
  }
  writes_.clear();
  queuedBytes_ = 0;
  door_.forget(shared_from_this());
}

// ---- before the upgrade --------------------------------------------------

void WsSession::onUpgradeRequest(const boost::system::error_code& ec) {
  if (closed_) {
    return;
  }
  if (upgradeTimedOut_) {
    refuse(http::status::request_timeout, "the upgrade request did not arrive within " +
                                              std::to_string(limits_.upgradeTimeout.count()) +
                                              " ms");
    return;
  }
  timer_.cancel();
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    refuse(http::status::request_header_fields_too_large,
           "the request line and headers are limited to " + std::to_string(limits_.maxHeaderBytes) +
               " bytes");
    return;
  }
  if (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
      ec == asio::error::eof) {
    close();  // gone before it asked anything
    return;
  }
  if (ec) {
    refuse(http::status::bad_request, "not an HTTP request: " + ec.message());
    return;
  }
  if (buffer_.size() != 0) {
    // A browser waits for 101 before it sends a frame.
    refuse(http::status::bad_request, "bytes after the upgrade request");
    return;
  }
  const UpgradeVerdict verdict = checkUpgrade(parser_->get(), door_.port());
  if (!verdict.accepted) {
    refuse(verdict.status, verdict.reason);
    return;
  }
  if (overCapacity_) {
    refuse(http::status::service_unavailable,
           "the p2pcp front door serves at most " + std::to_string(limits_.maxConnections) +
               " connections at once; close another tab of this app and try again");
    return;
  }
  caller_.kind = agent::CallerKind::Page;
  caller_.origin = verdict.origin;
  caller_.viaWebSocket = true;
  if (!door_.dispatcher_.passesPairingGate(caller_) &&
      door_.unpairedConnectionCount() >= limits_.maxUnpairedConnections) {
    refuse(http::status::service_unavailable,
           "the p2pcp front door serves at most " + std::to_string(limits_.maxUnpairedConnections) +
               " connections of pages that are not paired; close another tab and try again");
    return;
  }
  ws_.set_option(websocket::stream_base::timeout{
      kGoodbyeTimeout + std::chrono::seconds(3),  // the 101 and the close handshake
      websocket::stream_base::none(),             // idleness: check() below
      false});
  ws_.read_message_max(limits_.maxMessageBytes);
  ws_.async_accept(parser_->get(), [self = shared_from_this()](const boost::system::error_code& e) {
    self->onAccepted(e);
  });
}

bool WsSession::unpaired() const {
  return upgraded_ && !closed_ && !door_.dispatcher_.passesPairingGate(caller_);
}

// A plain HTTP answer and no upgrade: the page learns only that it may not.
void WsSession::refuse(http::status status, const std::string& why) {
  // Debug only: any web page can make its browser knock, and must not fill the log.
  agent::logDebug("refused a WebSocket upgrade (" + std::to_string(static_cast<int>(status)) +
                  "): " + why);
  auto response = std::make_shared<http::response<http::string_body>>(status, 11);
  response->set(http::field::connection, "close");
  response->set(http::field::content_type, "text/plain; charset=utf-8");
  response->body() = why + "\n";
  response->prepare_payload();
  auto& stream = beast::get_lowest_layer(ws_);
  stream.expires_after(kGoodbyeTimeout);
  http::async_write(
      stream, *response,
      [self = shared_from_this(), response](const boost::system::error_code&, std::size_t) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(self->ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_send,
                                                             ignored);
        self->close();
      });
}

void WsSession::onAccepted(const boost::system::error_code& ec) {
  parser_.reset();
  if (closed_) {
    return;
  }
  if (ec) {
    close("a WebSocket handshake failed: " + ec.message());
    return;
  }
  upgraded_ = true;
  buffer_ = beast::flat_buffer();
  lastActivity_ = Clock::now();
  agent::logDebug("a WebSocket client of " + *caller_.origin + " connected");
  watch();
  readNext();
}

// ---- after the upgrade ---------------------------------------------------

// Reads the next message unless this client is held back: too many requests
// running, or too many reply bytes queued (resumed when they go out).
void WsSession::readNext() {
  // Also while a read waits (Beast checks it when a frame's header comes):
  // a pair request that just finished raises it for the next message.
  ws_.read_message_max(door_.dispatcher_.passesPairingGate(caller_) ? limits_.maxMessageBytes
                                                                    : limits_.unpairedMessageBytes);
  if (closed_ || closing_ || reading_ || inFlight_ >= limits_.maxInFlightPerConnection ||
      queuedBytes_ >= limits_.writeQueueSoftBytes) {
    return;
  }
  reading_ = true;
  buffer_.clear();
  readMore();
}

// A message is read a chunk at a time, so that one growing past the small size
// can be charged to the agent-wide budget before the rest of it is read.
void WsSession::readMore() {
  ws_.async_read_some(buffer_, limits_.smallMessageBytes,
                      [self = shared_from_this()](const boost::system::error_code& ec,
                                                  std::size_t) { self->onRead(ec); });
}

void WsSession::onRead(const boost::system::error_code& ec) {
  if (closed_) {
    reading_ = false;
    return;
  }
  if (ec) {
    reading_ = false;
    // The peer closed, or broke the protocol (an oversized message, invalid
    // UTF-8 in a text frame): Beast has sent the close frame with its code.
    if (ec != websocket::error::closed) {
      agent::logDebug("closed a WebSocket client of " + *caller_.origin + ": " + ec.message());
    }
    close();
    return;
  }
  lastActivity_ = Clock::now();
  if (ws_.is_message_done()) {
    reading_ = false;
    messageStarted_.reset();
    onMessage();
    return;
  }
  if (!messageStarted_) {
    messageStarted_ = lastActivity_;
    if (timer_.expiry() > *messageStarted_ + limits_.messageTimeout) {
      watch();  // the message deadline comes before the one the timer waits for
    }
  }
  if (reserved_ == 0 && buffer_.size() >= limits_.smallMessageBytes) {
    // Its length is unknown until it ends (a message may come in many
    // frames): it reserves the most a message may be, or reads no more of it
    // until the budget has room. Waiters are served in arrival order, on
    // this I/O thread.
    if (!door_.budget_.tryReserve(limits_.maxMessageBytes)) {
      waitingForBudget_ = true;
      door_.budget_.wait(
          limits_.maxMessageBytes, [self = shared_from_this()] { return !self->closed_; },
          [self = shared_from_this()] {
            self->waitingForBudget_ = false;
            self->reserved_ = self->limits_.maxMessageBytes;
            // The rest must come in time from now: waiting was not its fault.
            self->messageStarted_ = Clock::now();
            self->readMore();
          });
      return;
    }
    reserved_ = limits_.maxMessageBytes;
  }
  readMore();
}

void WsSession::onMessage() {
  if (!ws_.got_text()) {
    closeWith(websocket::close_code::unknown_data,
              "binary frames are refused: one JSON-RPC request per text frame");
    return;
  }
  std::string text = beast::buffers_to_string(buffer_.data());
  buffer_.clear();
  if (buffer_.capacity() > limits_.smallMessageBytes) {
    buffer_.shrink_to_fit();  // an idle connection keeps no large buffer
  }
  // The message keeps its own size of the reservation until its reply is made.
  std::size_t reserved = std::exchange(reserved_, 0);
  if (reserved > text.size()) {
    door_.budget_.release(reserved - text.size());
    reserved = text.size();
  }
  serve(std::move(text), reserved);
  readNext();
}

// A small request is served here when nothing would make it wait; a large one,
// or one that would wait (for the person, a PIN pad, a busy token), on a worker.
void WsSession::serve(std::string text, std::size_t reserved) {
  if (text.size() > limits_.smallMessageBytes || reserved > 0) {
    ++inFlight_;
    asio::post(door_.workers_,
               [self = shared_from_this(), text = std::move(text), reserved]() mutable {
                 self->serveOnWorker(std::move(text), reserved);
               });
    return;
  }
  auto prepared = prepareMessage(text, caller_);
  if (auto* error = std::get_if<json>(&prepared)) {
    send(serialised(*error));
    return;
  }
  auto request = std::get<Request>(std::move(prepared));
  attachNotify(request);
  if (request.method == "subscribe") {
    // The caller table decides (it never waits); the connection then gets token
    // events as the dispatcher shapes them for this page (Dispatcher::eventFor).
    json reply = door_.dispatcher_.handle(request);
    subscribed_ = subscribed_ || reply.contains("result");
    send(serialised(reply));
    return;
  }
  if (auto reply = door_.dispatcher_.tryHandleQuickly(request)) {
    send(serialised(*reply));
    return;
  }
  ++inFlight_;
  asio::post(door_.workers_, [self = shared_from_this(), request = std::move(request)]() {
    std::string reply;
    try {
      reply = serialised(self->door_.dispatcher_.handle(request));
    } catch (const std::exception& e) {
      // An exception escaping a pool thread would end the agent.
      agent::logError(std::string("serving a WebSocket request failed: ") + e.what());
    }
    asio::post(self->door_.io_,
               [self, reply = std::move(reply)]() mutable { self->workDone(std::move(reply), 0); });
  });
}

void WsSession::serveOnWorker(std::string text, std::size_t reserved) {
  std::string reply;
  try {
    auto prepared = prepareMessage(text, caller_);
    text = std::string();
    if (auto* error = std::get_if<json>(&prepared)) {
      reply = serialised(*error);
    } else if (std::get<Request>(prepared).method == "subscribe") {
      // Connection state belongs to the I/O thread; a subscribe is never this big.
      reply = serialised(agent::errorResponse(
          std::get<Request>(prepared).id,
          AgentError(ErrorCode::BadRequest, "a subscribe request is a small message")));
    } else {
      attachNotify(std::get<Request>(prepared));
      reply = serialised(door_.dispatcher_.handle(std::get<Request>(prepared)));
    }
  } catch (const std::exception& e) {
    agent::logError(std::string("serving a WebSocket request failed: ") + e.what());
  }
  asio::post(door_.io_, [self = shared_from_this(), reply = std::move(reply), reserved]() mutable {
    self->workDone(std::move(reply), reserved);
  });
}

void WsSession::workDone(std::string reply, std::size_t reserved) {
  if (reserved > 0) {
    door_.budget_.release(reserved);
  }
  --inFlight_;
  lastActivity_ = Clock::now();
  if (closed_) {
    return;
  }
  if (!reply.empty()) {
    send(std::move(reply));
  }
  readNext();
}

void WsSession::notify(const json& event) {
  if (!subscribed_ || closed_ || closing_) {
    return;
  }
  if (auto shaped = door_.dispatcher_.eventFor(caller_, event)) {
    send(serialised(*shaped));
  }
}

void WsSession::attachNotify(Request& request) {
  // Sent before the reply: the request is still in flight, so the reply is
  // queued after it. The worker waits until the notification is queued (a pair
  // request shows its code before its dialog opens), but never for long.
  request.notify = [self = shared_from_this()](const json& message) {
    auto text = serialised(message);
    if (self->door_.io_.get_executor().running_in_this_thread()) {
      self->send(std::move(text));
      return;
    }
    auto queued = std::make_shared<std::promise<void>>();
    auto done = queued->get_future();
    asio::post(self->door_.io_, [self, queued, text = std::move(text)]() mutable {
      self->send(std::move(text));
      queued->set_value();
    });
    (void)done.wait_for(kGoodbyeTimeout);
  };
}

void WsSession::send(std::string text) {
  if (closed_ || closing_) {
    return;
  }
  // A client that sends requests but does not read its replies: the soft cap
  // stopped reading its requests; replies still running add the rest.
  if (queuedBytes_ >= limits_.writeQueueHardBytes) {
    close("closed a WebSocket client of " + *caller_.origin + " that does not read its replies (" +
          std::to_string(queuedBytes_) + " bytes queued)");
    return;
  }
  queuedBytes_ += text.size();
  writes_.push_back(std::move(text));
  lastActivity_ = Clock::now();
  if (!writing_) {
    writeNext();
  }
}

void WsSession::writeNext() {
  writing_ = true;
  writeStarted_ = Clock::now();
  if (upgraded_ && timer_.expiry() > writeStarted_ + limits_.writeTimeout) {
    watch();  // the write deadline comes before the one the timer waits for
  }
  ws_.text(true);
  ws_.async_write(asio::buffer(writes_.front()),
                  [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                    self->onWritten(ec);
                  });
}

void WsSession::onWritten(const boost::system::error_code& ec) {
  writing_ = false;
  if (closed_) {
    return;
  }
  if (ec) {
    close();  // the peer went away
    return;
  }
  queuedBytes_ -= writes_.front().size();
  writes_.pop_front();
  lastActivity_ = Clock::now();
  if (!writes_.empty()) {
    writeNext();
    return;
  }
  if (closeAfterWrites_) {
    const auto reason = *std::exchange(closeAfterWrites_, std::nullopt);
    ws_.async_close(
        reason, [self = shared_from_this()](const boost::system::error_code&) { self->close(); });
    return;
  }
  readNext();  // resumes reading once the queue is under its soft cap
}

void WsSession::closeWith(websocket::close_code code, const std::string& why) {
  if (closing_ || closed_) {
    return;
  }
  agent::logDebug("closing a WebSocket client of " + *caller_.origin + ": " + why);
  closing_ = true;
  websocket::close_reason reason(code, why);
  if (writing_ || !writes_.empty()) {
    closeAfterWrites_ = reason;
    return;
  }
  ws_.async_close(reason,
                  [self = shared_from_this()](const boost::system::error_code&) { self->close(); });
}

// ---- deadlines -----------------------------------------------------------

// One timer per connection, re-armed when it fires: activity never touches it.
void WsSession::watch() {
  if (closed_) {
    return;
  }
  const auto now = Clock::now();
  auto next =
      idle() ? std::max(now, lastActivity_ + limits_.idleTimeout) : now + limits_.idleTimeout;
  if (writing_) {
    next = std::min(next, writeStarted_ + limits_.writeTimeout);
  }
  if (messageStarted_) {
    next = std::min(next, *messageStarted_ + limits_.messageTimeout);
  }
  timer_.expires_at(next);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) {
      self->check();
    }
  });
}

void WsSession::check() {
  if (closed_) {
    return;
  }
  const auto now = Clock::now();
  if (writing_ && now >= writeStarted_ + limits_.writeTimeout) {
    close("closed a WebSocket client of " + *caller_.origin +
          " that read none of its replies for " + std::to_string(limits_.writeTimeout.count()) +
          " ms");
    return;
  }
  if (messageStarted_ && !waitingForBudget_ && now >= *messageStarted_ + limits_.messageTimeout) {
    close("closed a WebSocket client of " + *caller_.origin +
          " whose message did not arrive whole within " +
          std::to_string(limits_.messageTimeout.count()) + " ms");
    return;
  }
  if (!closing_ && idle() && now >= lastActivity_ + limits_.idleTimeout) {
    closeWith(websocket::close_code::going_away,
              "idle for " + std::to_string(limits_.idleTimeout.count()) + " ms");
    // The close handshake has its own deadline (the stream's timeout option).
    return;
  }
  watch();
}

}  // namespace p2pcp::ws
