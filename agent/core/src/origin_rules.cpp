// SPDX-License-Identifier: Apache-2.0
// The policy's "origins" object: every entry must be written exactly as a
// browser reports the origin (or in the one wildcard form), because an entry
// written any other way would never match and the administrator would not know.
#include <map>
#include <stdexcept>

#include "config_fields.hpp"
#include "p2pcp/agent/json_parse.hpp"

namespace p2pcp::agent {

using nlohmann::json;

namespace {

std::string indexed(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::vector<OriginPattern> patterns(const FieldReader& origins, const char* name) {
  std::vector<OriginPattern> out;
  const auto entries = origins.strings(name);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    try {
      out.push_back(OriginPattern::parse(entries[i]));
    } catch (const std::invalid_argument& e) {
      origins.fail(indexed(origins.path(name), i) + " " + e.what());
    }
  }
  return out;
}

std::vector<std::vector<std::string>> sameSpaceGroups(const FieldReader& origins) {
  const std::string field = origins.path("sameSpace");
  const json& groups = origins.array("sameSpace");
  std::vector<std::vector<std::string>> out;
  std::map<std::string, std::size_t> groupOf;  // origin -> the group that has it
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::string groupPath = indexed(field, g);
    if (!groups[g].is_array()) {
      origins.fail("field \"" + groupPath + "\" has the wrong type (expected an array of origins)");
    }
    if (groups[g].size() < 2) {
      origins.fail(groupPath + " must list at least 2 origins");
    }
    std::vector<std::string> group;
    for (std::size_t i = 0; i < groups[g].size(); ++i) {
      const std::string entryPath = indexed(groupPath, i);
      const json& entry = groups[g][i];
      if (!entry.is_string()) {
        origins.fail("field \"" + entryPath + "\" has the wrong type (expected a string)");
      }
      const auto& origin = entry.get_ref<const std::string&>();
      try {
        requireCanonicalWebOrigin(origin);
      } catch (const std::invalid_argument& e) {
        origins.fail(entryPath + " " + e.what());
      }
      if (const auto [where, inserted] = groupOf.emplace(origin, g); !inserted) {
        origins.fail(entryPath + " " + quotedForMessage(origin, 200) +
                     (where->second == g ? " appears twice in " + groupPath
                                         : " is already in " + indexed(field, where->second) +
                                               " (an origin belongs to one space at most)"));
      }
      group.push_back(origin);
    }
    out.push_back(std::move(group));
  }
  return out;
}

}  // namespace

OriginRules readOriginRules(const FieldReader& origins) {
  origins.allowOnly({"allow", "fullAccess", "block", "onlyAllowed", "sameSpace"});
  OriginRules rules;
  if (origins.has("allow")) {
    rules.allow = patterns(origins, "allow");
  }
  if (origins.has("fullAccess")) {
    rules.fullAccess = patterns(origins, "fullAccess");
  }
  if (origins.has("block")) {
    rules.block = patterns(origins, "block");
  }
  if (origins.has("onlyAllowed")) {
    rules.onlyAllowed = origins.boolean("onlyAllowed");
  }
  if (origins.has("sameSpace")) {
    rules.sameSpace = sameSpaceGroups(origins);
  }
  return rules;
}

}  // namespace p2pcp::agent
