#include "p2pcp/agent/interaction.hpp"

namespace p2pcp::agent {

namespace {
thread_local bool interactionAllowed = true;
}  // namespace

void requireInteraction() {
  if (!interactionAllowed) {
    throw InteractionRequired{};
  }
}

NoInteractionScope::NoInteractionScope() noexcept : previous_(interactionAllowed) {
  interactionAllowed = false;
}

NoInteractionScope::~NoInteractionScope() {
  interactionAllowed = previous_;
}

}  // namespace p2pcp::agent
