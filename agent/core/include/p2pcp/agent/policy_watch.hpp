// SPDX-License-Identifier: Apache-2.0
#pragma once
// Notices the policy file changing with inotify on its directory, not on the
// file: configuration management writes a new file and renames it over the
// old one, which a watch on the old file's inode would never report. Events
// come in bursts (create, write, rename); the callback runs once the
// directory has been quiet for the debounce time. I/O thread only.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <functional>

namespace p2pcp::agent {

class PolicyWatch {
 public:
  PolicyWatch(boost::asio::io_context& io, const std::filesystem::path& file,
              std::chrono::milliseconds debounce, std::function<void()> onChange);
  // False when the directory cannot be watched (it does not exist): the
  // agent's once-a-second check (PolicyReloader::changedOnDisk) still sees changes.
  [[nodiscard]] bool watching() const noexcept { return watching_; }

 private:
  void read();
  void onEvents(std::size_t length);

  boost::asio::posix::stream_descriptor inotify_;
  boost::asio::steady_timer quiet_;
  std::string name_;
  std::chrono::milliseconds debounce_;
  std::function<void()> onChange_;
  bool watching_ = false;
  alignas(8) std::array<char, 4096> buffer_{};
};

}  // namespace p2pcp::agent
