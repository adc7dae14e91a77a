// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which user owns the other end of a loopback TCP connection. The Unix socket
// admits only the agent's own user (SO_PEERCRED); loopback TCP is open to
// every user of the machine, and SO_PEERCRED does not work for it, so the
// kernel's socket table is asked instead (NETLINK_SOCK_DIAG, like `ss -e`).

#include <sys/types.h>

#include <boost/asio/ip/tcp.hpp>
#include <optional>

namespace p2pcp::ws {

// nullopt when the kernel does not say (the peer already gone, no sock_diag):
// callers refuse the connection then.
std::optional<uid_t> loopbackPeerUid(const boost::asio::ip::tcp::socket& socket);

}  // namespace p2pcp::ws
