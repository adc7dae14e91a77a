// SPDX-License-Identifier: Apache-2.0
#pragma once
// Writing the agent's private state (consents, the chosen default key): mode
// 0600, never through a planted link, and replaced atomically so that a crash
// never leaves half a file.

#include <filesystem>
#include <string_view>

namespace p2pcp::agent {

// Writes `text` to `file` (creating its directory); throws std::runtime_error.
void replacePrivateFile(const std::filesystem::path& file, std::string_view text);

// Renames a state file that could not be read to FILE.corrupt (or .corrupt.N,
// never over an earlier copy: each is kept for a look) and returns the new name.
std::filesystem::path setAsideUnreadableFile(const std::filesystem::path& file);

}  // namespace p2pcp::agent
