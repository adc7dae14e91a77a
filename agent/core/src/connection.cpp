// SPDX-License-Identifier: Apache-2.0
#include "connection.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <optional>
#include <utility>
#include <variant>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_rpc.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::agent {

namespace asio = boost::asio;
using nlohmann::json;

Frame toFrame(const json& message, std::size_t maxBytes) {
  try {
    // Replies can carry base64 of a whole block; error_handler::replace keeps a reply
    // with invalid UTF-8 from a token label from throwing here.
    return std::make_shared<const std::string>(
        makeFrame(message.dump(-1, ' ', false, json::error_handler_t::replace),
                  LengthOrder::BigEndian, maxBytes));
  } catch (const FramingError&) {
    return std::make_shared<const std::string>(
        makeFrame(errorResponse(message.value("id", json()),
                                AgentError(ErrorCode::MessageTooLarge, "the reply is too large"))
                      .dump(),
                  LengthOrder::BigEndian, maxBytes));
  }
}

std::string inMs(std::chrono::milliseconds value) {
  return std::to_string(value.count()) + " ms";
}

Connection::Connection(Server& server, Socket socket)
    : server_(server),
      limits_(server.limits_),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      lastCompleted_(Clock::now()),
      lastActivity_(lastCompleted_) {}

void Connection::start() {
  // Reads that find nothing return at once (readBody); asynchronous reads and
  // writes work the same either way.
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
  watch(lastActivity_ + limits_.idleTimeout);
  readHeader();
}

void Connection::close(const std::string& why) {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (!why.empty()) {
    logWarning(why);
  }
  boost::system::error_code ignored;
  timer_.cancel();
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  writes_.clear();
  queuedBytes_ = 0;
  body_ = std::string();
  waitingForBudget_ = false;
  if (reserved_ > 0) {
    server_.budget_.release(std::exchange(reserved_, 0));
  }
  server_.forget(shared_from_this());
}

void Connection::send(Frame frame) {
  if (closed_) {
    return;
  }
  // A client that sends requests (or subscribed) but does not read: the soft
  // cap stopped reading its requests; replies still running and notifications
  // can add at most one more frame past the hard cap.
  if (queuedBytes_ >= limits_.writeQueueHardBytes) {
    close("closed a connection that does not read its replies (" + std::to_string(queuedBytes_) +
          " bytes queued)");
    return;
  }
  queuedBytes_ += frame->size();
  writes_.push_back(std::move(frame));
  lastActivity_ = Clock::now();
  if (writes_.size() == 1) {
    writeProgress_ = lastActivity_;
    watch(writeProgress_ + limits_.writeTimeout);
    writeNext();
  }
}

// ---- reading -------------------------------------------------------------

// Starts reading the next frame unless this connection is held back: too
// many requests running, or too many reply bytes queued (resumed when a
// reply goes out).
void Connection::readHeader() {
  if (closed_ || inputEnded_ || reading_ || frameInProgress_ ||
      inFlight_ >= limits_.maxInFlightPerConnection ||
      queuedBytes_ >= limits_.writeQueueSoftBytes) {
    return;
  }
  readHeaderBytes();
}

void Connection::readHeaderBytes() {
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(header_.data() + headerHave_, header_.size() - headerHave_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->onHeaderBytes(ec, n);
      });
}

void Connection::onHeaderBytes(const boost::system::error_code& ec, std::size_t n) {
  reading_ = false;
  if (closed_) {
    return;
  }
  if (ec) {
    endOfInput();
    return;
  }
  if (headerHave_ == 0) {
    startFrameClock();
  }
  headerHave_ += n;
  if (headerHave_ < header_.size()) {
    readHeaderBytes();
    return;
  }
  headerHave_ = 0;
  length_ = decodeLength(header_.data(), LengthOrder::BigEndian);
  if (length_ > limits_.maxMessageBytes) {
    refuseOversized();
    return;
  }
  if (length_ <= limits_.smallMessageBytes) {
    readBody();
    return;
  }
  // A large message: all of its length from the budget before any of its body.
  if (server_.budget_.tryReserve(length_)) {
    reserved_ = length_;
    readBody();
    return;
  }
  waitingForBudget_ = true;
  server_.budget_.wait(
      length_, [self = shared_from_this()] { return self->waitingForBudget_ && !self->closed_; },
      [self = shared_from_this()] { self->onBudgetGranted(); });
}

void Connection::onBudgetGranted() {
  waitingForBudget_ = false;
  reserved_ = length_;
  startFrameClock();  // the wait was ours, not the sender's
  readBody();
}

// The body buffer grows as bytes arrive, never to what the header claims up front.
void Connection::readBody() {
  for (;;) {
    if (bodyHave_ == length_) {
      onMessage();
      return;
    }
    const std::size_t chunk = std::min(limits_.readChunkBytes, length_ - bodyHave_);
    if (body_.capacity() < bodyHave_ + chunk) {
      body_.reserve(std::min(length_, std::max(body_.capacity() * 2, bodyHave_ + chunk)));
    }
    body_.resize(bodyHave_ + chunk);
    if (length_ > limits_.smallMessageBytes) {
      break;
    }
    // A small message's body has almost always arrived with its header: read it
    // now (the socket is non-blocking) instead of after another pass through the
    // event loop; only what has not arrived yet is waited for.
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(body_.data() + bodyHave_, chunk), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      break;
    }
    if (ec) {
      endOfInput();  // truncated message: nothing to answer
      return;
    }
    bodyHave_ += n;
    body_.resize(bodyHave_);
  }
  reading_ = true;
  socket_.async_read_some(asio::buffer(body_.data() + bodyHave_, body_.size() - bodyHave_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      std::size_t n) { self->onBodyBytes(ec, n); });
}

void Connection::onBodyBytes(const boost::system::error_code& ec, std::size_t n) {
  reading_ = false;
  if (closed_) {
    return;
  }
  if (ec) {
    endOfInput();  // truncated message: nothing to answer
    return;
  }
  bodyHave_ += n;
  body_.resize(bodyHave_);
  readBody();
}

void Connection::onMessage() {
  frameInProgress_ = false;
  completedAny_ = true;
  lastCompleted_ = lastActivity_ = Clock::now();
  std::string text = std::exchange(body_, std::string());
  bodyHave_ = 0;
  if (length_ <= limits_.smallMessageBytes) {
    serveSmall(text);
  } else {
    serveLarge(std::move(text), std::exchange(reserved_, 0));
  }
  if (!closed_) {
    readHeader();  // requests on one connection may run concurrently; ids tell replies apart
    watchIdle();
  }
}

// The peer closed or the read failed: finish what is running, then close.
void Connection::endOfInput() {
  inputEnded_ = true;
  frameInProgress_ = false;
  headerHave_ = 0;
  bodyHave_ = 0;
  body_ = std::string();
  if (reserved_ > 0) {
    server_.budget_.release(std::exchange(reserved_, 0));
  }
  closeIfDone();
}

void Connection::closeIfDone() {
  if (inputEnded_ && inFlight_ == 0 && writes_.empty()) {
    close();
  }
}

// ---- serving -------------------------------------------------------------

// Runs `work` on a worker and frames its reply there; never throws (an
// exception escaping a pool thread would end the agent).
template <typename Work>
Frame Connection::runOnWorker(Work&& work) noexcept {
  try {
    return toFrame(std::forward<Work>(work)(), limits_.maxMessageBytes);
  } catch (const std::exception& e) {
    logError(std::string("serving a request failed: ") + e.what());
    try {
      return toFrame(errorResponse(nullptr, AgentError(ErrorCode::Internal,
                                                       "the agent could not serve the request")),
                     limits_.maxMessageBytes);
    } catch (const std::exception&) {
      return nullptr;
    }
  }
}

// A small message: parsed here, and served here when nothing would make it
// wait. The common request (logged in, consent given) takes this path: a
// hand-off to a worker and back costs two thread wake-ups, more than many
// token operations.
void Connection::serveSmall(const std::string& text) {
  auto parsed = parseRequest(text);
  if (auto* error = std::get_if<json>(&parsed)) {
    send(toFrame(*error, limits_.maxMessageBytes));
    return;
  }
  auto request = std::get<Request>(std::move(parsed));
  if (request.method == "subscribe") {
    subscribe(request);
    return;
  }
  if (const auto canned = Dispatcher::cannedReply(request)) {
    send(std::make_shared<const std::string>(
        makeFrame(*canned, LengthOrder::BigEndian, limits_.maxMessageBytes)));
    return;
  }
  if (auto reply = server_.dispatcher_.tryHandleQuickly(request)) {
    send(toFrame(*reply, limits_.maxMessageBytes));
    return;
  }
  ++inFlight_;
  asio::post(server_.workers_, [self = shared_from_this(), request = std::move(request)]() {
    Frame frame = self->runOnWorker([&] { return self->server_.dispatcher_.handle(request); });
    asio::post(self->server_.io_,
               [self, frame = std::move(frame)]() mutable { self->workDone(std::move(frame), 0); });
  });
}

// A large message is parsed, run and serialised on a worker: parsing and
// dumping many MiB would stall every other client on the I/O thread. Its
// budget is held until its reply is made.
void Connection::serveLarge(std::string text, std::size_t reserved) {
  ++inFlight_;
  asio::post(server_.workers_,
             [self = shared_from_this(), text = std::move(text), reserved]() mutable {
               self->serveLargeOnWorker(std::move(text), reserved);
             });
}

void Connection::serveLargeOnWorker(std::string text, std::size_t reserved) {
  std::optional<Request> subscription;
  Frame frame = runOnWorker([&] {
    auto parsed = parseRequest(text);
    text = std::string();
    if (auto* error = std::get_if<json>(&parsed)) {
      return std::move(*error);
    }
    auto request = std::get<Request>(std::move(parsed));
    if (request.method == "subscribe") {
      subscription = std::move(request);  // connection state: the I/O thread's
      return json();
    }
    return server_.dispatcher_.handle(request);
  });
  asio::post(server_.io_, [self = shared_from_this(), frame = std::move(frame), reserved,
                           subscription = std::move(subscription)]() mutable {
    if (subscription && !self->closed_) {
      self->subscribe(*subscription);
      frame = nullptr;
    }
    self->workDone(std::move(frame), reserved);
  });
}

// Back on the I/O thread after a worker served a request.
void Connection::workDone(Frame frame, std::size_t reserved) {
  if (reserved > 0) {
    server_.budget_.release(reserved);
  }
  --inFlight_;
  lastActivity_ = Clock::now();
  if (closed_) {
    return;
  }
  if (frame) {
    send(std::move(frame));
  }
  if (!closed_) {
    readHeader();
    watchIdle();
    closeIfDone();
  }
}

// `subscribe`: from now on this connection gets token events for this caller,
// as the dispatcher shapes them for it (Dispatcher::eventFor). One
// connection of the native host carries the subscriptions of many origins.
void Connection::subscribe(const Request& request) {
  json reply = server_.dispatcher_.handle(request);  // the caller table decides; never waits
  if (reply.contains("result")) {
    const auto same = [&](const Caller& c) {
      return c.kind == request.caller.kind && c.origin == request.caller.origin;
    };
    if (std::none_of(subscriptions_.begin(), subscriptions_.end(), same) &&
        subscriptions_.size() < kMaxSubscriptions) {
      subscriptions_.push_back(request.caller);
    }
    subscribed_ = true;
  }
  send(toFrame(reply, limits_.maxMessageBytes));
}

std::vector<json> Connection::eventsFor(const json& event) const {
  std::vector<json> out;
  for (const auto& caller : subscriptions_) {
    if (auto shaped = server_.dispatcher_.eventFor(caller, event)) {
      out.push_back(std::move(*shaped));
    }
  }
  return out;
}

// ---- writing -------------------------------------------------------------

void Connection::writeNext() {
  const std::string& frame = *writes_.front();
  socket_.async_write_some(asio::buffer(frame.data() + writeOffset_, frame.size() - writeOffset_),
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->onWritten(ec, n); });
}

void Connection::onWritten(const boost::system::error_code& ec, std::size_t n) {
  if (closed_) {
    return;
  }
  if (ec) {
    close();  // the peer went away
    return;
  }
  writeProgress_ = lastActivity_ = Clock::now();
  writeOffset_ += n;
  if (writeOffset_ == writes_.front()->size()) {
    queuedBytes_ -= writes_.front()->size();
    writes_.pop_front();
    writeOffset_ = 0;
  }
  if (!writes_.empty()) {
    writeNext();
  } else if (refused_) {
    drain();
    return;
  }
  readHeader();  // resumes reading once the queue is under its soft cap
  watchIdle();
  closeIfDone();
}

// ---- an oversized message ------------------------------------------------

// We cannot skip 4 GiB that may never come: answer and hang up.
void Connection::refuseOversized() {
  refused_ = true;
  inputEnded_ = true;  // no further requests; the frame clock bounds what follows
  send(toFrame(
      errorResponse(nullptr, AgentError(ErrorCode::MessageTooLarge,
                                        "messages are limited to " +
                                            std::to_string(limits_.maxMessageBytes) + " bytes")),
      limits_.maxMessageBytes));
}

// After the refusal is written: send FIN, then read and discard what the peer
// is still sending for a bounded amount, so closing does not reset the
// connection (a reset would destroy the error reply before the peer reads it).
void Connection::drain() {
  refused_ = false;
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_send, ignored);
  body_.assign(limits_.readChunkBytes, '\0');
  drainNext();
}

void Connection::drainNext() {
  socket_.async_read_some(
      asio::buffer(body_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->drained_ += n;
        if (ec || self->drained_ > kMaxDrain) {
          self->close();
          return;
        }
        if (!self->closed_) {
          self->drainNext();
        }
      });
}

// ---- deadlines -----------------------------------------------------------

void Connection::startFrameClock() {
  frameInProgress_ = true;
  frameStarted_ = Clock::now();
  watch(frameStarted_ + limits_.frameTimeout);
}

bool Connection::idle() const noexcept {
  return !frameInProgress_ && inFlight_ == 0 && writes_.empty() && !subscribed_;
}

void Connection::watchIdle() {
  if (idle()) {
    watch(lastActivity_ + limits_.idleTimeout);
  }
}

// Arms the connection's one timer for `deadline` unless it fires earlier
// anyway. Activity never cancels it: when it fires, check() looks at what
// the connection is doing then and arms it for the next deadline, so a busy
// connection costs a timer operation per timeout period, not per message.
void Connection::watch(Clock::time_point deadline) {
  if (closed_ || deadline >= armedFor_) {
    return;
  }
  armedFor_ = deadline;
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) {
      self->check();
    }
  });
}

void Connection::check() {
  if (closed_) {
    return;
  }
  armedFor_ = Clock::time_point::max();
  const auto now = Clock::now();
  auto next = Clock::time_point::max();
  if (frameInProgress_ && !waitingForBudget_) {
    if (now >= frameStarted_ + limits_.frameTimeout) {
      close("closed a connection whose message did not arrive whole within " +
            inMs(limits_.frameTimeout));
      return;
    }
    next = std::min(next, frameStarted_ + limits_.frameTimeout);
  }
  if (!writes_.empty()) {
    if (now >= writeProgress_ + limits_.writeTimeout) {
      close("closed a connection that read none of its replies for " + inMs(limits_.writeTimeout));
      return;
    }
    next = std::min(next, writeProgress_ + limits_.writeTimeout);
  }
  if (idle()) {
    if (now >= lastActivity_ + limits_.idleTimeout) {
      logDebug("closed a connection idle for " + inMs(limits_.idleTimeout));
      close();
      return;
    }
    next = std::min(next, lastActivity_ + limits_.idleTimeout);
  }
  if (next != Clock::time_point::max()) {
    watch(next);
  }
}

}  // namespace p2pcp::agent
