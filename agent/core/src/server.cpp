#include "p2pcp/agent/server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <tuple>
#include <utility>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::agent {

namespace asio = boost::asio;
using nlohmann::json;
using Socket = asio::local::stream_protocol::socket;
using Clock = std::chrono::steady_clock;
using Frame = std::shared_ptr<const std::string>;

namespace {

// One reply or notification as a frame. Runs on the thread that made the reply:
// a multi-MiB dump must not hold up the I/O thread.
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

}  // namespace

// One client connection. Everything here runs on the I/O thread except the
// lambdas posted to the worker pool, which touch only the dispatcher and limits.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, Socket socket)
      : server_(server),
        limits_(server.limits_),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        lastCompleted_(Clock::now()),
        lastActivity_(lastCompleted_) {}

  void start() {
    watch(lastActivity_ + limits_.idleTimeout);
    readHeader();
  }

  // Closes at once; handlers still pending find closed_ and stop there. `why`
  // goes to the log (empty for an ordinary end).
  void close(const std::string& why = {}) {
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

  [[nodiscard]] bool subscribed() const noexcept { return subscribed_; }
  [[nodiscard]] Clock::time_point lastCompleted() const noexcept { return lastCompleted_; }

  // Which connection makes room at the cap, smallest first: one with no request
  // running and no reply queued before one being served (a CLI waiting for its
  // PIN dialog); one that never completed a message (idle, or dribbling a
  // frame) before one that did (a client that just paused, which a burst of
  // new connections would otherwise make look stale); then the one that has
  // gone longest without completing a message.
  [[nodiscard]] std::tuple<bool, bool, Clock::time_point> evictionRank() const noexcept {
    return {inFlight_ > 0 || !writes_.empty(), completedAny_, lastCompleted_};
  }

  void send(Frame frame) {
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

 private:
  // ---- reading -------------------------------------------------------------

  // Starts reading the next frame unless this connection is held back: too
  // many requests running, or too many reply bytes queued (resumed when a
  // reply goes out).
  void readHeader() {
    if (closed_ || inputEnded_ || reading_ || frameInProgress_ ||
        inFlight_ >= limits_.maxInFlightPerConnection ||
        queuedBytes_ >= limits_.writeQueueSoftBytes) {
      return;
    }
    readHeaderBytes();
  }

  void readHeaderBytes() {
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(header_.data() + headerHave_, header_.size() - headerHave_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          self->onHeaderBytes(ec, n);
        });
  }

  void onHeaderBytes(const boost::system::error_code& ec, std::size_t n) {
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

  void onBudgetGranted() {
    waitingForBudget_ = false;
    reserved_ = length_;
    startFrameClock();  // the wait was ours, not the sender's
    readBody();
  }

  // The body buffer grows as bytes arrive, never to what the header claims up front.
  void readBody() {
    if (bodyHave_ == length_) {
      onMessage();
      return;
    }
    const std::size_t chunk = std::min(limits_.readChunkBytes, length_ - bodyHave_);
    if (body_.capacity() < bodyHave_ + chunk) {
      body_.reserve(std::min(length_, std::max(body_.capacity() * 2, bodyHave_ + chunk)));
    }
    body_.resize(bodyHave_ + chunk);
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(body_.data() + bodyHave_, chunk),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          self->onBodyBytes(ec, n);
        });
  }

  void onBodyBytes(const boost::system::error_code& ec, std::size_t n) {
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

  void onMessage() {
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
  void endOfInput() {
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

  void closeIfDone() {
    if (inputEnded_ && inFlight_ == 0 && writes_.empty()) {
      close();
    }
  }

  // ---- serving -------------------------------------------------------------

  // A small message: parsed here, and served here when nothing would make it
  // wait. The common request (logged in, consent given) takes this path: a
  // hand-off to a worker and back costs two thread wake-ups, more than many
  // token operations.
  void serveSmall(const std::string& text) {
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
    if (auto reply = server_.dispatcher_.tryHandleQuickly(request)) {
      send(toFrame(*reply, limits_.maxMessageBytes));
      return;
    }
    ++inFlight_;
    asio::post(server_.workers_, [self = shared_from_this(), request = std::move(request)]() {
      Frame frame = self->runOnWorker([&] { return self->server_.dispatcher_.handle(request); });
      asio::post(self->server_.io_, [self, frame = std::move(frame)]() mutable {
        self->workDone(std::move(frame), 0);
      });
    });
  }

  // A large message is parsed, run and serialised on a worker: parsing and
  // dumping many MiB would stall every other client on the I/O thread. Its
  // budget is held until its reply is made.
  void serveLarge(std::string text, std::size_t reserved) {
    ++inFlight_;
    asio::post(server_.workers_,
               [self = shared_from_this(), text = std::move(text), reserved]() mutable {
                 self->serveLargeOnWorker(std::move(text), reserved);
               });
  }

  void serveLargeOnWorker(std::string text, std::size_t reserved) {
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

  // Runs `work` on a worker and frames its reply there; never throws (an
  // exception escaping a pool thread would end the agent).
  template <typename Work>
  Frame runOnWorker(Work&& work) noexcept {
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

  // Back on the I/O thread after a worker served a request.
  void workDone(Frame frame, std::size_t reserved) {
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
  void subscribe(const Request& request) {
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

 public:
  // The event as each of this connection's subscribers may see it.
  [[nodiscard]] std::vector<json> eventsFor(const json& event) const {
    std::vector<json> out;
    for (const auto& caller : subscriptions_) {
      if (auto shaped = server_.dispatcher_.eventFor(caller, event)) {
        out.push_back(std::move(*shaped));
      }
    }
    return out;
  }

 private:
  // ---- writing -------------------------------------------------------------

  void writeNext() {
    const std::string& frame = *writes_.front();
    socket_.async_write_some(
        asio::buffer(frame.data() + writeOffset_, frame.size() - writeOffset_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          self->onWritten(ec, n);
        });
  }

  void onWritten(const boost::system::error_code& ec, std::size_t n) {
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
  void refuseOversized() {
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
  void drain() {
    refused_ = false;
    boost::system::error_code ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
    body_.assign(limits_.readChunkBytes, '\0');
    drainNext();
  }

  void drainNext() {
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

  void startFrameClock() {
    frameInProgress_ = true;
    frameStarted_ = Clock::now();
    watch(frameStarted_ + limits_.frameTimeout);
  }

  [[nodiscard]] bool idle() const noexcept {
    return !frameInProgress_ && inFlight_ == 0 && writes_.empty() && !subscribed_;
  }

  void watchIdle() {
    if (idle()) {
      watch(lastActivity_ + limits_.idleTimeout);
    }
  }

  // Arms the connection's one timer for `deadline` unless it fires earlier
  // anyway. Activity never cancels it: when it fires, check() looks at what
  // the connection is doing then and arms it for the next deadline, so a busy
  // connection costs a timer operation per timeout period, not per message.
  void watch(Clock::time_point deadline) {
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

  void check() {
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
        close("closed a connection that read none of its replies for " +
              inMs(limits_.writeTimeout));
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

  Server& server_;
  const ServerLimits& limits_;
  Socket socket_;
  asio::steady_timer timer_;
  Clock::time_point armedFor_ = Clock::time_point::max();

  // Reading: one frame at a time.
  std::array<std::uint8_t, 4> header_{};
  std::size_t headerHave_ = 0;
  std::size_t length_ = 0;
  std::string body_;
  std::size_t bodyHave_ = 0;
  std::size_t reserved_ = 0;  // budget held for the frame being read
  bool reading_ = false;
  bool frameInProgress_ = false;
  bool waitingForBudget_ = false;
  bool inputEnded_ = false;
  Clock::time_point frameStarted_;
  Clock::time_point lastCompleted_;  // the last whole message (or the connect)
  bool completedAny_ = false;
  Clock::time_point lastActivity_;  // for the idle deadline

  // Serving and writing.
  std::size_t inFlight_ = 0;
  std::deque<Frame> writes_;
  std::size_t writeOffset_ = 0;  // into writes_.front()
  std::size_t queuedBytes_ = 0;
  Clock::time_point writeProgress_;
  bool subscribed_ = false;
  // Bounded: the origins of one browser session, not an attacker's list.
  static constexpr std::size_t kMaxSubscriptions = 256;
  std::vector<Caller> subscriptions_;
  bool closed_ = false;

  // After an oversized message.
  static constexpr std::size_t kMaxDrain = std::size_t{1024} * 1024U;
  std::size_t drained_ = 0;
  bool refused_ = false;
};

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
