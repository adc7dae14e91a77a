#pragma once
// The agent's socket directory: private to its user.

#include <filesystem>

namespace p2pcp::agent {

// Creates the directory 0700 if missing and refuses one that is a symlink, not
// ours, or open to others (which it makes private). Throws std::runtime_error.
void ensurePrivateDirectory(const std::filesystem::path& dir);

}  // namespace p2pcp::agent
