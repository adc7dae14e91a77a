// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/policy_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "p2pcp/agent/log.hpp"

namespace p2pcp::agent {

namespace asio = boost::asio;

PolicyWatch::PolicyWatch(asio::io_context& io, const std::filesystem::path& file,
                         std::chrono::milliseconds debounce, std::function<void()> onChange)
    : inotify_(io),
      quiet_(io),
      name_(file.filename().string()),
      debounce_(debounce),
      onChange_(std::move(onChange)) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    logWarning(std::string("cannot watch the policy file: inotify: ") + std::strerror(errno));
    return;
  }
  inotify_.assign(fd);
  const std::string dir = file.has_parent_path() ? file.parent_path().string() : ".";
  constexpr std::uint32_t kChanges = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                     IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
  if (::inotify_add_watch(fd, dir.c_str(), kChanges) < 0) {
    logInfo("not watching " + dir + " (" + std::strerror(errno) +
            "): policy changes are seen within a second, or at once on SIGHUP");
    return;
  }
  watching_ = true;
  read();
}

void PolicyWatch::read() {
  inotify_.async_read_some(asio::buffer(buffer_),
                           [this](const boost::system::error_code& ec, std::size_t length) {
                             if (ec) {
                               if (ec != asio::error::operation_aborted) {
                                 logWarning("policy watch stopped: " + ec.message());
                               }
                               return;
                             }
                             onEvents(length);
                             read();
                           });
}

void PolicyWatch::onEvents(std::size_t length) {
  bool relevant = false;
  std::size_t offset = 0;
  while (offset + sizeof(inotify_event) <= length) {
    inotify_event event{};
    std::memcpy(&event, buffer_.data() + offset, sizeof event);
    const char* name = buffer_.data() + offset + sizeof(inotify_event);
    const bool aboutFile = event.len > 0 && name_ == std::string(name, ::strnlen(name, event.len));
    // The directory itself going away or an overflowed queue may hide a change.
    if (aboutFile || (event.mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
      relevant = true;
    }
    offset += sizeof(inotify_event) + event.len;
  }
  if (!relevant) {
    return;
  }
  quiet_.expires_after(debounce_);  // cancels a pending wait: the quiet time starts again
  quiet_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      onChange_();
    }
  });
}

}  // namespace p2pcp::agent
