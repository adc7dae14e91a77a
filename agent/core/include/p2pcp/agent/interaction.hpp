#pragma once
// Whether the current thread may talk to the person (PIN dialog, consent
// dialog, PIN pad). Each connection's own thread serves its requests without
// interaction, so the common case (logged in, consent given) costs no thread
// hand-off; a request that would need the person is handed to a worker and
// run again from the start with interaction allowed. That keeps a dialog from
// blocking the other requests of the same connection.

namespace p2pcp::agent {

// Thrown at the point where a request would need the person. Deliberately not a
// std::exception: the handlers' generic error mapping must never swallow it.
struct InteractionRequired {};

// Throws InteractionRequired when interaction is forbidden on this thread.
// Call it before any side effect the retry would repeat.
void requireInteraction();

// Forbids interaction on this thread for its lifetime.
class NoInteractionScope {
 public:
  NoInteractionScope() noexcept;
  ~NoInteractionScope();
  NoInteractionScope(const NoInteractionScope&) = delete;
  NoInteractionScope& operator=(const NoInteractionScope&) = delete;
  NoInteractionScope(NoInteractionScope&&) = delete;
  NoInteractionScope& operator=(NoInteractionScope&&) = delete;

 private:
  bool previous_;
};

}  // namespace p2pcp::agent
