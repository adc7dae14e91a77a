// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test hooks: environment variables that only test builds read (CMake option
// P2PCP_TEST_HOOKS, on in the dev, asan and fuzz presets, off by default and in
// the Debian package). A release build has none, so nothing in a person's or a
// browser's environment can point the agent or the native host at another
// policy file or change the agent's timeouts.
//
// The answer is decided by the one translation unit test_hooks.cpp, which the
// build compiles twice: into p2pcp_test_hooks (with the option's value, linked
// by every program) and into p2pcp_no_test_hooks (never), which the tests link
// into hook-less copies of the agent, the native host and a unit test to
// prove the point.

#include <optional>
#include <string>

namespace p2pcp::agent {

// Whether this program was built with test hooks.
bool testHooksEnabled() noexcept;

// The value of the test-only environment variable `name`; nullopt when it is
// unset or empty, and always in a build without test hooks.
std::optional<std::string> testHookVariable(const char* name);

}  // namespace p2pcp::agent
