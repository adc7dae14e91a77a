// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reading the agent's settings and the administrator's policy from disk.
//
// Fail closed: only a path that does not exist at all means "no file, use the
// defaults". A path that exists in any other form than a readable regular file
// (a dangling symlink, a directory, a FIFO, no permission) is an error, because
// a policy the agent cannot read must never be mistaken for no policy.

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace p2pcp::agent {

// No settings or policy file needs more; anything larger is refused unread.
inline constexpr std::size_t kMaxConfigFileBytes = std::size_t{1024} * 1024U;

// The text of `file`, a regular file of at most kMaxConfigFileBytes, opened without
// waiting on a FIFO. Throws std::runtime_error naming the path and the reason otherwise.
std::string readRegularFile(const std::filesystem::path& file);

// The JSON object in `file`, parsed strictly (parseStrictJson: no duplicate key,
// bounded depth, valid UTF-8); nullopt when lstat(2) finds nothing at the path.
// Throws std::runtime_error naming the path and the reason otherwise.
std::optional<nlohmann::json> readConfigFile(const std::filesystem::path& file);

}  // namespace p2pcp::agent
