// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which grade a web page's origin holds (docs/security.md, "Consent grades"):
// the administrator's policy first (block, full access, allow, only allowed),
// then what the person decided (consents.json). The first call that needs
// site access asks the person; full access is only ever granted on an
// explicit request (requestAccess), by the person at the keyboard (the CLI),
// or by policy. A denial is remembered for a while, so a page cannot make
// the dialog reappear in a loop.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "p2pcp/agent/access.hpp"
#include "p2pcp/agent/caller.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/consent_store.hpp"
#include "p2pcp/agent/dialogs.hpp"
#include "p2pcp/agent/policy_holder.hpp"

namespace p2pcp::agent {

// The key space a request works in (docs/scheme.md, "Spaces").
struct Space {
  std::optional<std::string> site;  // the site space's name (an origin); nullopt: the full space
  [[nodiscard]] std::string name() const { return site.value_or("full"); }
};

// An origin's standing: its grade, or why the administrator refuses it.
struct Standing {
  Grade grade = Grade::None;
  std::optional<std::string> refusal;  // set when policy refuses the origin outright
};

class AccessControl {
 public:
  // How long a "Deny" is remembered for an origin.
  static constexpr std::chrono::hours kDenialMemory{24};

  AccessControl(const PolicyHolder& policy, ConsentStore& consents, Dialogs& dialogs)
      : policy_(policy), consents_(consents), dialogs_(dialogs) {}

  // The origin's standing now, without asking anyone. Throws
  // AgentError(NotAllowedByPolicy) while the policy is malformed.
  [[nodiscard]] Standing standingOf(const std::string& origin) const;

  // For a page calling a method under `rule`: the grade it holds, after asking
  // the person for site access if it has none yet and the rule needs it.
  // Throws AgentError: NotAllowedByPolicy (refused by policy, or the method
  // needs full access), ConsentDenied (now, or remembered), RateLimited.
  Grade admit(const Caller& caller, PageRule rule);

  // A page's explicit request for a grade (requestAccess): asks the person
  // unless the origin already holds it. Returns the grade now held.
  Grade request(const Caller& caller, Grade wanted);

  // The site space an origin works in: the first origin of its policy
  // "sameSpace" group, else the origin the person said it shares, else its own.
  [[nodiscard]] std::string spaceOf(const std::string& origin) const;

  ConsentStore& consents() noexcept { return consents_; }
  [[nodiscard]] const PolicyHolder& policy() const noexcept { return policy_; }

  // After a policy reload: forgets the consents of origins the policy now
  // blocks or no longer lists (onlyAllowed), so that a later, looser policy
  // does not bring them back unasked. Returns the origins revoked.
  std::vector<std::string> revokeDisallowed();

  // Forgets the origin's consent or remembered denial, and the dialog pauses
  // its refusals caused: the person has just decided it may ask again.
  bool revoke(const std::string& origin);

 private:
  Grade askFor(const Caller& caller, Grade wanted);

  const PolicyHolder& policy_;
  ConsentStore& consents_;
  Dialogs& dialogs_;
};

}  // namespace p2pcp::agent
