// SPDX-License-Identifier: Apache-2.0
#pragma once
// What another local user would plant where our agent's socket should be: a
// listening Unix socket served by a process of theirs, which counts every byte
// a client sends it. Used to show that clients refuse such a socket before
// they send anything.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>

namespace p2pcp::testing {

// The uid and gid the planted server runs as in the tests: nobody.
inline constexpr uid_t kNobody = 65534;
inline constexpr gid_t kNogroup = 65534;

// Whether this process can make a child run as `uid`/`gid` (it is root and
// setresuid works here, e.g. not in a user namespace without that uid).
bool canRunAs(uid_t uid, gid_t gid);

class PlantedServer {
 public:
  struct Received {
    int connections = 0;     // connections accepted
    std::size_t bytes = 0;   // bytes received over all of them
    std::string firstBytes;  // the start of what arrived, for failure messages
  };

  // Forks a child that binds `socket` (as this process, so it may be inside a
  // directory private to root), then becomes `uid`/`gid` before listen():
  // SO_PEERCRED reports the listener's credentials as of listen(). With `uid`
  // equal to this process's euid the child keeps its credentials. Returns once
  // the child listens; throws std::runtime_error when it cannot.
  PlantedServer(const std::filesystem::path& socket, uid_t uid, gid_t gid);
  PlantedServer(const PlantedServer&) = delete;
  PlantedServer& operator=(const PlantedServer&) = delete;
  PlantedServer(PlantedServer&&) = delete;
  PlantedServer& operator=(PlantedServer&&) = delete;
  ~PlantedServer();  // kills the child by its pid if stop() was not called

  // Tells the child to stop, after it has accepted and read every connection
  // already made (also those still in the backlog), and returns what it got.
  Received stop();

 private:
  void kill() noexcept;

  pid_t pid_ = -1;
  int resultFd_ = -1;  // the child reports through this pipe
  int stopFd_ = -1;    // closed to tell the child to stop
};

}  // namespace p2pcp::testing
