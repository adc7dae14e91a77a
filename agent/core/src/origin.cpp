#include "p2pcp/agent/origin.hpp"

#include <regex>

namespace p2pcp::agent {

bool isValidOrigin(const std::string& origin) {
  // Schemes a browser reports for pages and extensions; host is a DNS name,
  // IPv4 or bracketed IPv6; optional port; no path, query, userinfo or spaces.
  static const std::regex kOrigin(
      R"(^(https?|chrome-extension|moz-extension)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$)");
  return origin.size() <= 512 && std::regex_match(origin, kOrigin);
}

}  // namespace p2pcp::agent
