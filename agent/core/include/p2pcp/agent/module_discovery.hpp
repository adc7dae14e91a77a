// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which PKCS#11 modules the agent serves, each later run by a helper process
// of its own: the module the person's settings name, or else the ones
// p11-kit's registry lists for the agent (p11-kit's enable-in / disable-in
// options name the program "p2pcp-agent"), without the trust-policy modules
// (system trust anchors hold no keys). Every path is canonical (realpath) and
// filtered by the administrator's allowedModules before anything is loaded.
// Module paths never come from a request.

#include <filesystem>
#include <string>
#include <vector>

#include "p2pcp/agent/config.hpp"

namespace p2pcp::agent {

// The helper program: beside this program (a build tree, or an install whose
// binaries share a directory), else the installed libexec path.
std::filesystem::path pkcs11HelperProgram();

// The canonical paths of the modules to serve. Throws std::runtime_error for a
// configured module that does not exist or that the policy does not allow.
std::vector<std::string> discoverModules(const Config& config, const Policy& policy,
                                         const std::filesystem::path& helperProgram);

}  // namespace p2pcp::agent
