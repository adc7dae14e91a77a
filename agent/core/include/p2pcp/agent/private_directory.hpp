// SPDX-License-Identifier: Apache-2.0
#pragma once
// The agent's socket directory: private to its user.

#include <filesystem>
#include <stdexcept>

namespace p2pcp::agent {

// A directory that must not be trusted with the agent's socket. what() names
// the directory and the reason.
class UntrustedDirectory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Creates the directory 0700 if missing and refuses one that is a symlink, not
// ours, or open to others (which it makes private). Throws std::runtime_error.
// For the agent's own start-up; clients use verifyPrivateDirectory.
void ensurePrivateDirectory(const std::filesystem::path& dir);

// Checks, without following a symlink, that `dir` is a directory owned by the
// effective uid with mode exactly 0700, so that no one else can have put a
// socket in it. Changes nothing. Throws UntrustedDirectory ("refusing the agent
// socket directory DIR: REASON") when it is not, std::system_error when it
// cannot be inspected (errc::no_such_file_or_directory when it is missing).
void verifyPrivateDirectory(const std::filesystem::path& dir);

// For a client about to start the agent: makes `dir` 0700 if it is missing,
// then verifies it. A directory that already existed is never repaired: while
// it was open, someone may have put a socket in it. Throws as
// verifyPrivateDirectory, or std::system_error when it cannot be made.
void createPrivateDirectory(const std::filesystem::path& dir);

}  // namespace p2pcp::agent
