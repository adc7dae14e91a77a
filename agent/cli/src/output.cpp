// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>

#include "cli.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::cli {

using nlohmann::json;

json call(const std::string& method, const json& params) {
  static client::AgentClient agent;
  json meta = json::object();
  // The agent runs pinentry; tell it where the person is.
  if (::isatty(STDIN_FILENO) != 0) {
    if (const char* tty = ::ttyname(STDIN_FILENO)) {
      meta["tty"] = tty;
    }
  }
  for (const char* name : {"WAYLAND_DISPLAY", "DISPLAY"}) {
    if (const char* display = std::getenv(name);
        display != nullptr && *display != '\0') {  // NOLINT
      meta["display"] = display;
      break;
    }
  }
  return agent.call(method, params, meta);
}

void printJson(const json& value) {
  std::cout << value.dump(2) << '\n';
}

std::string readAllStdin() {
  std::string data;
  std::array<char, 65536> buffer{};
  while (true) {
    const std::size_t n = readFully(STDIN_FILENO, buffer.data(), buffer.size());
    data.append(buffer.data(), n);
    if (n < buffer.size()) {
      return data;
    }
    if (data.size() > kMaxAgentMessage) {
      throw std::runtime_error("input is larger than the agent's 64 MiB message limit");
    }
  }
}

void writeStdout(const std::string& bytes) {
  std::cout.flush();
  writeFully(STDOUT_FILENO, bytes.data(), bytes.size());
}

}  // namespace p2pcp::cli
