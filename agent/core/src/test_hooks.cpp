// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/test_hooks.hpp"

#include <cstdlib>

namespace p2pcp::agent {

bool testHooksEnabled() noexcept {
#ifdef P2PCP_TEST_HOOKS
  return true;
#else
  return false;
#endif
}

std::optional<std::string> testHookVariable([[maybe_unused]] const char* name) {
#ifdef P2PCP_TEST_HOOKS
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (value != nullptr && *value != '\0') {
    return std::string(value);
  }
#endif
  return std::nullopt;
}

}  // namespace p2pcp::agent
