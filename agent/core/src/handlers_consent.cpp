// SPDX-License-Identifier: Apache-2.0
// Access grades: a page's explicit request, and the person's own list, grants and revocations.
#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/origin.hpp"
#include "p2pcp/agent/params.hpp"

namespace p2pcp::agent {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxOrigin = 512;

Grade gradeParam(const Params& p, std::string_view name) {
  const std::string value = p.string(name, 16);
  if (value == "site") {
    return Grade::Site;
  }
  if (value == "full") {
    return Grade::Full;
  }
  badRequest(std::string(name) + R"( must be "site" or "full")");
}

std::string originParam(const Params& p, std::string_view name) {
  std::string origin = p.string(name, kMaxOrigin);
  if (!isCanonicalWebOrigin(origin)) {
    badRequest(std::string(name) +
               " must be a web origin as browsers report it, such as https://app.example");
  }
  return origin;
}

json spaceName(RequestContext& context, const std::string& origin, Grade grade) {
  if (grade == Grade::Full) {
    return "full";
  }
  if (context.access.policy().problem()) {
    // The policy's sameSpace groups are unknown while it is malformed; the list
    // of consents (served so the person can still revoke) says so.
    return nullptr;
  }
  return context.access.spaceOf(origin);
}

}  // namespace

json handleRequestAccess(RequestContext& context, const json& params) {
  const Params p(params, {"access"});
  const Grade wanted = gradeParam(p, "access");
  const std::string& origin = context.caller.origin.value();
  const Grade held = context.access.request(context.caller, wanted);
  return {{"access", gradeName(held)}, {"space", spaceName(context, origin, held)}};
}

json handleListConsents(RequestContext& context, const json& params) {
  const Params p(params, {});
  std::map<std::string, json> byOrigin;
  for (const auto& consent : context.access.consents().list()) {
    json entry = {{"origin", consent.origin},
                  {"access", gradeName(consent.grade)},
                  {"grantedAt", consent.grantedAt},
                  {"space", spaceName(context, consent.origin, consent.grade)}};
    byOrigin[consent.origin] = std::move(entry);
  }
  for (const auto& denial : context.access.consents().denials()) {
    json& entry = byOrigin[denial.origin];
    if (entry.is_null()) {
      entry = {{"origin", denial.origin}, {"access", "none"}};
    }
    entry["denied"] = {
        {"access", gradeName(denial.grade)}, {"at", denial.deniedAt}, {"until", denial.until}};
  }
  json out = json::array();
  for (auto& [origin, entry] : byOrigin) {
    out.push_back(std::move(entry));
  }
  return out;
}

json handleGrantConsent(RequestContext& context, const json& params) {
  const Params p(params, {"origin", "access", "space"});
  const std::string origin = originParam(p, "origin");
  const Grade grade = gradeParam(p, "access");
  std::optional<std::string> space;
  if (p.has("space")) {
    // Joining another origin's space joins wherever that one lives, so spaces never chain.
    const std::string target = context.access.spaceOf(originParam(p, "space"));
    if (target != origin) {
      space = target;
    }
  }
  context.access.consents().grant(origin, grade, space);
  return {{"origin", origin},
          {"access", gradeName(grade)},
          {"space", spaceName(context, origin, grade)}};
}

json handleRevokeConsent(RequestContext& context, const json& params) {
  const Params p(params, {"origin"});
  return {{"revoked", context.access.revoke(p.string("origin", kMaxOrigin))}};
}

}  // namespace p2pcp::agent
