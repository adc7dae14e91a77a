// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/host/relay.hpp"

#include <sys/socket.h>

#include <iostream>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/json_parse.hpp"
#include "p2pcp/agent/json_rpc.hpp"
#include "p2pcp/common/framing.hpp"
#include "p2pcp/host/browser_message.hpp"

namespace p2pcp::host {

using agent::AgentError;
using agent::ErrorCode;
using nlohmann::json;

namespace {

// Ids of the requests the host makes itself (subscriptions it renews on a new
// agent connection); their replies are not for the browser.
constexpr std::string_view kOwnIdPrefix = "p2pcp-host:";

bool isOwnId(const json& id) {
  return id.is_string() && id.get_ref<const std::string&>().starts_with(kOwnIdPrefix);
}

void diagnose(const std::string& message) {
  std::cerr << "p2pcp-native-host: " << message << '\n';
}

// A frame over kMaxFromBrowser but within this is read and dropped in chunks
// (never buffered) and answered, and the host goes on; above it the host gives
// up: skipping more is not worth reading.
constexpr std::size_t kMaxSkippableFromBrowser = std::size_t{64} * 1024U * 1024U;

// The next message from the browser; nullopt when the browser closed the port.
// An oversized frame gets MESSAGE_TOO_LARGE with id null (its id is in what was
// dropped); one over kMaxSkippableFromBrowser then throws FramingError(TooLarge).
std::optional<std::string> readFromBrowser(int fd, Relay& relay) {
  for (;;) {
    const auto length = readLength(fd, LengthOrder::Native);
    if (!length) {
      return std::nullopt;
    }
    if (*length <= kMaxFromBrowser) {
      return readPayload(fd, *length);
    }
    const bool skippable = *length <= kMaxSkippableFromBrowser;
    if (skippable) {
      skipPayload(fd, *length);
    }
    relay.toBrowser(agent::errorResponse(
        nullptr,
        AgentError(ErrorCode::MessageTooLarge,
                   "messages to the host are limited to " +
                       std::to_string(kMaxFromBrowser / (std::size_t{1024} * 1024U)) + " MiB")));
    if (!skippable) {
      // The rest of that message is still in the pipe; we cannot find the next one.
      throw FramingError(FramingError::Kind::TooLarge,
                         "a message of " + std::to_string(*length) + " bytes from the browser");
    }
  }
}

}  // namespace

Relay::Relay(int browserIn, int browserOut, client::ConnectOptions agentOptions)
    : browserIn_(browserIn), browserOut_(browserOut), agentOptions_(std::move(agentOptions)) {}

Relay::~Relay() {
  const std::scoped_lock lock(agentMutex_);
  disconnectAgent();
}

void Relay::toBrowser(const json& message) {
  std::string text = message.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxToBrowser) {
    text = agent::errorResponse(
               message.value("id", json()),
               AgentError(ErrorCode::MessageTooLarge,
                          "the reply is over the browser's limit of 1 MiB for native messages"))
               .dump();
  }
  const std::scoped_lock lock(outMutex_);
  writeFrame(browserOut_, text, LengthOrder::Native, kMaxToBrowser);
}

int Relay::run(const BrowserCaller& caller) {
  for (;;) {
    std::optional<std::string> text;
    try {
      text = readFromBrowser(browserIn_, *this);
    } catch (const FramingError& e) {
      diagnose(e.what());
      return 1;
    }
    if (!text) {
      return 0;  // the browser closed the port
    }
    auto translated = toAgentRequest(*text, caller);
    text.reset();
    if (auto* error = std::get_if<ErrorReply>(&translated)) {
      toBrowser(error->message);
      continue;
    }
    relayRequest(std::get<AgentRequest>(translated).message);
  }
}

int Relay::refuseAll(const std::string& why) {
  for (;;) {
    std::optional<std::string> text;
    try {
      text = readFromBrowser(browserIn_, *this);
    } catch (const FramingError& e) {
      diagnose(e.what());
      return 1;
    }
    if (!text) {
      return 1;
    }
    json id = nullptr;
    try {
      const json doc = agent::parseStrictJson(*text);
      if (doc.is_object() && doc.contains("id") &&
          (doc["id"].is_number_integer() || doc["id"].is_string())) {
        id = doc["id"];
      }
    } catch (const agent::JsonParseError&) {
      // Not a request: the refusal goes out with id null.
    }
    toBrowser(agent::errorResponse(id, AgentError(ErrorCode::ExtensionNotAllowed, why)));
  }
}

void Relay::relayRequest(const json& request) {
  const std::string idKey = request["id"].dump();
  const std::string text = request.dump();
  {
    const std::scoped_lock lock(pendingMutex_);
    if (pending_.contains(idKey)) {
      toBrowser(agent::errorResponse(
          request["id"], AgentError(ErrorCode::BadRequest, "a request with this id is pending")));
      return;
    }
  }
  // Twice at most: a send that fails on a connection the agent closed (it
  // restarted) is retried once on a fresh connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::scoped_lock lock(agentMutex_);
    try {
      if (!agent_) {
        connectAgent();
      }
    } catch (const std::exception& e) {
      diagnose(e.what());
      toBrowser(
          agent::errorResponse(request["id"], AgentError(ErrorCode::AgentUnavailable,
                                                         "the p2pcp agent is not running and could "
                                                         "not be started")));
      return;
    }
    {
      const std::scoped_lock pendingLock(pendingMutex_);
      pending_.insert(idKey);
    }
    try {
      agent_->send(text);
      if (request["method"] == "subscribe") {
        // Renewed on every later agent connection, so token events survive an
        // agent restart; one per sender (a page origin, or the extension).
        subscriptions_[request.value("origin", std::string())] = request;
      }
      return;
    } catch (const FramingError&) {
      {
        const std::scoped_lock pendingLock(pendingMutex_);
        pending_.erase(idKey);
      }
      disconnectAgent();
    }
  }
  toBrowser(agent::errorResponse(
      request["id"], AgentError(ErrorCode::AgentUnavailable, "the p2pcp agent went away")));
}

void Relay::connectAgent() {
  agent_.emplace(agentOptions_);
  int renewed = 0;
  for (const auto& [sender, subscription] : subscriptions_) {
    json again = subscription;
    again["id"] = std::string(kOwnIdPrefix) + "subscribe:" + std::to_string(renewed++);
    agent_->send(again.dump());
  }
  reader_ = std::thread([this, fd = agent_->fd()] { readAgent(fd); });
}

void Relay::disconnectAgent() {
  if (agent_) {
    ::shutdown(agent_->fd(), SHUT_RDWR);  // wakes the reader
  }
  if (reader_.joinable()) {
    reader_.join();
  }
  agent_.reset();
}

void Relay::readAgent(int fd) {
  for (;;) {
    std::optional<std::string> text;
    try {
      // readFrame grows its buffer as bytes arrive: a length the agent (or
      // whatever listens on its socket) announces costs nothing until it is sent.
      text = readFrame(fd, LengthOrder::BigEndian, kMaxAgentMessage);
    } catch (const FramingError& e) {
      diagnose(std::string("agent connection: ") + e.what());
    }
    if (!text) {
      break;
    }
    json message;
    try {
      message = agent::parseStrictJson(*text);
    } catch (const agent::JsonParseError& e) {
      diagnose(std::string("the agent sent something that is not JSON: ") + e.what());
      break;
    }
    text.reset();
    if (!message.is_object()) {
      diagnose("the agent sent something that is not a JSON object");
      break;
    }
    if (message.contains("id")) {
      if (isOwnId(message["id"])) {
        continue;
      }
      const std::scoped_lock lock(pendingMutex_);
      pending_.erase(message["id"].dump());
    }
    try {
      toBrowser(message);
    } catch (const FramingError&) {
      return;  // the browser is gone; run() sees stdin close
    }
  }
  failPending("the p2pcp agent stopped while answering; try again");
  // The next request reconnects; mark this connection dead without joining ourselves.
  ::shutdown(fd, SHUT_RDWR);
}

void Relay::failPending(const std::string& why) {
  std::set<std::string> failed;
  {
    const std::scoped_lock lock(pendingMutex_);
    failed.swap(pending_);
  }
  for (const auto& idKey : failed) {
    try {
      toBrowser(
          agent::errorResponse(json::parse(idKey), AgentError(ErrorCode::AgentUnavailable, why)));
    } catch (const FramingError&) {
      return;
    }
  }
}

}  // namespace p2pcp::host
