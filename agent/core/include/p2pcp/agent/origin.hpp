#pragma once
// Web origins as browsers report them.

#include <string>

namespace p2pcp::agent {

// A web origin as the browser reports it: scheme://host[:port], nothing else.
// Used to refuse anything that is not one before it reaches storage or a prompt.
bool isValidOrigin(const std::string& origin);

}  // namespace p2pcp::agent
