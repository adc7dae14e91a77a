// SPDX-License-Identifier: Apache-2.0
#include "dos_kit.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "p2pcp/common/framing.hpp"

namespace p2pcp::testing {

using nlohmann::json;

namespace {

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval value{};
  value.tv_sec = static_cast<time_t>(ms.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return value;
}

std::size_t statusField(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream value(line.substr(field.size() + 1));
      std::size_t kib = 0;
      value >> kib;
      return kib * 1024U;
    }
  }
  throw std::runtime_error("no " + field + " for pid " + std::to_string(pid));
}

}  // namespace

RawSocket::RawSocket(const std::filesystem::path& socket)
    : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (fd_ < 0) {
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error(std::string("connect: ") + std::strerror(error));
  }
}

RawSocket::RawSocket(RawSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RawSocket::~RawSocket() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void RawSocket::sendBytes(std::string_view bytes) const {
  const timeval none{};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  while (!bytes.empty()) {
    const ssize_t put = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (put < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(put));
  }
}

bool RawSocket::trySendBytes(std::string_view bytes, std::chrono::milliseconds stall) const {
  const timeval timeout = toTimeval(stall);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  while (!bytes.empty()) {
    const ssize_t put = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (put < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;  // EAGAIN: no progress for `stall`; EPIPE/ECONNRESET: closed
    }
    bytes.remove_prefix(static_cast<std::size_t>(put));
  }
  return true;
}

void RawSocket::sendRequest(const json& message) const {
  sendBytes(frameOf(message.dump()));
}

std::optional<std::string> RawSocket::receiveText(std::chrono::milliseconds timeout) const {
  const timeval value = toTimeval(timeout);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value);
  return readFrame(fd_, LengthOrder::BigEndian, kMaxAgentMessage);
}

std::optional<json> RawSocket::receive(std::chrono::milliseconds timeout) const {
  const auto text = receiveText(timeout);
  if (!text) {
    return std::nullopt;
  }
  return json::parse(*text);
}

bool RawSocket::waitForHangUp(std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return false;
    }
    // POLLIN alone would report the replies waiting unread; a hang-up shows as
    // POLLRDHUP (and POLLHUP once both directions are shut).
    pollfd ready{fd_, POLLRDHUP, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) > 0 &&
        (ready.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      return true;
    }
  }
}

bool RawSocket::waitForClose(std::chrono::milliseconds timeout, std::size_t* frames) const {
  const auto deadline = Clock::now() + timeout;
  std::array<std::uint8_t, 4> header{};
  std::size_t headerHave = 0;
  std::uint64_t bodyLeft = 0;
  bool inBody = false;
  std::array<std::uint8_t, std::size_t{64} * 1024U> buffer{};
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    const ssize_t got = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno == ECONNRESET)) {
      return true;
    }
    if (got < 0) {
      continue;
    }
    // Count whole frames in what arrived.
    for (std::size_t at = 0; at < static_cast<std::size_t>(got);) {
      if (!inBody) {
        header[headerHave++] = buffer[at++];
        if (headerHave == header.size()) {
          bodyLeft = decodeLength(header.data(), LengthOrder::BigEndian);
          headerHave = 0;
          inBody = true;
        }
      } else {
        const auto take = std::min<std::uint64_t>(bodyLeft, static_cast<std::size_t>(got) - at);
        bodyLeft -= take;
        at += static_cast<std::size_t>(take);
      }
      if (inBody && bodyLeft == 0) {
        inBody = false;
        if (frames != nullptr) {
          ++*frames;
        }
      }
    }
  }
}

std::string lengthPrefix(std::uint32_t length) {
  std::string prefix(4, '\0');
  encodeLength(length, reinterpret_cast<std::uint8_t*>(prefix.data()), LengthOrder::BigEndian);
  return prefix;
}

std::string frameOf(std::string_view text) {
  return makeFrame(text, LengthOrder::BigEndian, kMaxAgentMessage);
}

std::string nestedArrays(std::size_t bytes) {
  return std::string(bytes / 2, '[') + std::string(bytes / 2, ']');
}

json request(const json& id, const std::string& method, const json& params) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}

HelloProbe::HelloProbe(const std::filesystem::path& socket)
    : thread_([this, socket] { run(socket); }) {}

HelloProbe::~HelloProbe() {
  stop();
}

void HelloProbe::stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

void HelloProbe::run(const std::filesystem::path& socket) {
  try {
    const RawSocket connection(socket);
    for (int id = 1; !stopping_; ++id) {
      const auto sent = Clock::now();
      connection.sendRequest(request(id, "hello", {{"client", "probe"}}));
      const auto reply = connection.receive(std::chrono::seconds(30));
      const auto answered = Clock::now();
      if (!reply || (*reply)["id"] != id || !reply->contains("result")) {
        throw std::runtime_error("bad hello reply: " + (reply ? reply->dump() : "EOF"));
      }
      {
        const std::scoped_lock lock(mutex_);
        samples_.push_back({answered, answered - sent});
      }
      // A short pause: a client, not a load generator competing for the 2 cores.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } catch (const std::exception& e) {
    const std::scoped_lock lock(mutex_);
    failure_ = e.what();
  }
}

void HelloProbe::waitForAnswers(std::size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    {
      const std::scoped_lock lock(mutex_);
      if (samples_.size() >= n || !failure_.empty()) {
        return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<HelloProbe::Sample> HelloProbe::samples() const {
  const std::scoped_lock lock(mutex_);
  return samples_;
}

std::size_t HelloProbe::answeredBetween(Clock::time_point from, Clock::time_point to) const {
  const std::scoped_lock lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(samples_.begin(), samples_.end(),
                    [&](const Sample& s) { return s.answeredAt > from && s.answeredAt < to; }));
}

Clock::duration HelloProbe::worst() const {
  const std::scoped_lock lock(mutex_);
  Clock::duration worst{};
  for (const auto& s : samples_) {
    worst = std::max(worst, s.latency);
  }
  return worst;
}

std::string HelloProbe::failure() const {
  const std::scoped_lock lock(mutex_);
  return failure_;
}

double toMs(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

LatencySummary summarize(const std::vector<HelloProbe::Sample>& samples) {
  std::vector<double> ms;
  ms.reserve(samples.size());
  for (const auto& s : samples) {
    ms.push_back(toMs(s.latency));
  }
  std::sort(ms.begin(), ms.end());
  LatencySummary summary;
  summary.count = ms.size();
  if (!ms.empty()) {
    summary.p50Ms = ms[ms.size() / 2];
    summary.p99Ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    summary.maxMs = ms.back();
  }
  return summary;
}

std::size_t residentBytes(pid_t pid) {
  return statusField(pid, "VmRSS");
}

std::size_t peakResidentBytes(pid_t pid) {
  return statusField(pid, "VmHWM");
}

}  // namespace p2pcp::testing
