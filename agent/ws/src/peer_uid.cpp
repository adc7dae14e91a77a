// SPDX-License-Identifier: Apache-2.0
#include "peer_uid.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace p2pcp::ws {

namespace {

class NetlinkSocket {
 public:
  NetlinkSocket() : fd_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  ~NetlinkSocket() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

void copyAddress(const boost::asio::ip::address& address, __be32 (&out)[4]) {
  std::memset(out, 0, sizeof out);
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    std::memcpy(out, bytes.data(), bytes.size());
  } else {
    const auto bytes = address.to_v6().to_bytes();
    std::memcpy(out, bytes.data(), bytes.size());
  }
}

}  // namespace

std::optional<uid_t> loopbackPeerUid(const boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  const auto local = socket.local_endpoint(ec);
  if (ec) {
    return std::nullopt;
  }
  const auto remote = socket.remote_endpoint(ec);
  if (ec) {
    return std::nullopt;
  }
  const NetlinkSocket netlink;
  if (netlink.get() < 0) {
    return std::nullopt;
  }
  // The answer is immediate; the bound only guards against a kernel that never answers.
  const timeval timeout{1, 0};
  ::setsockopt(netlink.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } query{};
  query.header.nlmsg_len = sizeof query;
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST;
  query.request.sdiag_family = static_cast<__u8>(local.address().is_v4() ? AF_INET : AF_INET6);
  query.request.sdiag_protocol = IPPROTO_TCP;
  query.request.idiag_states = ~0U;
  // The peer's socket: its source is our remote end, its destination our local end.
  query.request.id.idiag_sport = htons(remote.port());
  query.request.id.idiag_dport = htons(local.port());
  copyAddress(remote.address(), query.request.id.idiag_src);
  copyAddress(local.address(), query.request.id.idiag_dst);
  query.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  query.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(netlink.get(), &query, sizeof query, 0, reinterpret_cast<const sockaddr*>(&kernel),
               sizeof kernel) != static_cast<ssize_t>(sizeof query)) {
    return std::nullopt;
  }
  alignas(nlmsghdr) std::array<char, 8192> reply{};
  const ssize_t got = ::recv(netlink.get(), reply.data(), reply.size(), 0);
  if (got < static_cast<ssize_t>(sizeof(nlmsghdr))) {
    return std::nullopt;
  }
  const auto* header = reinterpret_cast<const nlmsghdr*>(reply.data());
  if (!NLMSG_OK(header, static_cast<unsigned>(got)) || header->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
      header->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
    return std::nullopt;  // NLMSG_ERROR: no such socket
  }
  // NLMSG_DATA without its C cast: the payload follows the aligned header.
  const auto* message = reinterpret_cast<const inet_diag_msg*>(reply.data() + NLMSG_LENGTH(0));
  return static_cast<uid_t>(message->idiag_uid);
}

}  // namespace p2pcp::ws
