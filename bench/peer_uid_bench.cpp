// SPDX-License-Identifier: Apache-2.0
// What the front door's peer-uid check (agent/ws/src/peer_uid.cpp: one
// NETLINK_SOCK_DIAG round trip per accepted connection, on the I/O thread)
// costs, next to the loopback connect + accept it follows, with 0..N other
// connections open (the kernel looks the exact 4-tuple up, so the table's
// size should not matter).
//   out/build/dev/bin/p2pcp-peer-uid-bench [connections]
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "peer_uid.hpp"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

double microseconds(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

void report(const char* what, std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    return samples[static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1))];
  };
  std::printf("%-34s median %7.1f us  p90 %7.1f us  p99 %7.1f us  max %7.1f us\n", what, at(0.5),
              at(0.9), at(0.99), samples.back());
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t connections = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
  if (connections == 0) {
    std::fprintf(stderr, "usage: %s [connections > 0]\n", argv[0]);
    return 2;
  }
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  std::vector<tcp::socket> clients;
  std::vector<tcp::socket> accepted;
  std::vector<double> connectAccept;
  std::vector<double> lookup;
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < connections; ++i) {
    const auto start = Clock::now();
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    tcp::socket server = acceptor.accept();
    const auto connected = Clock::now();
    const auto uid = p2pcp::ws::loopbackPeerUid(server);
    const auto looked = Clock::now();
    if (!uid || *uid != ::geteuid()) {
      ++wrong;
    }
    connectAccept.push_back(microseconds(connected - start));
    lookup.push_back(microseconds(looked - connected));
    clients.push_back(std::move(client));
    accepted.push_back(std::move(server));
  }
  std::printf("%zu loopback connections held open, peer uid wrong or unknown for %zu\n",
              connections, wrong);
  report("connect + accept", connectAccept);
  report("peer uid (sock_diag round trip)", lookup);
  return wrong == 0 ? 0 : 1;
}
