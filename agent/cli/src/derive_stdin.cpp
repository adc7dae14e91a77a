// SPDX-License-Identifier: Apache-2.0
// p2pcp derive public|private --stdin: many storage keys in few requests
// (deriveStorageKeys, within the agent's batchLimits). One output line per
// input line, in order; a line whose uri fails prints an empty line there (a
// storage key is never empty, so scripts keep their alignment) and the reason
// on stderr, and the exit code is then 1.
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

namespace p2pcp::cli {

using nlohmann::json;

namespace {

// The agent's per-call limit (hello's batchLimits), or the protocol's own.
std::size_t deriveBatchLimit() {
  constexpr std::size_t kProtocolLimit = 2048;
  const json hello = call("hello", json::object());
  const json limits = hello.value("batchLimits", json::object());
  const auto limit = limits.value("deriveStorageKeys", kProtocolLimit);
  return limit == 0 ? kProtocolLimit : limit;
}

struct Line {
  std::size_t number = 0;
  std::string uri;
};

// Prints one batch's results; returns how many of them failed.
std::size_t deriveBatch(const Options& o, const std::string& kind, const std::vector<Line>& lines) {
  json uris = json::array();
  for (const auto& line : lines) {
    uris.push_back(line.uri);
  }
  json params = {{"kind", kind}, {"uris", std::move(uris)}};
  if (o.key) {
    params["key"] = *o.key;
  }
  if (o.origin) {
    params["space"] = *o.origin;
  }
  const json r = call("deriveStorageKeys", params);
  const json& results = r.at("results");
  if (!results.is_array() || results.size() != lines.size()) {
    throw std::runtime_error("the agent returned " + std::to_string(results.size()) +
                             " results for " + std::to_string(lines.size()) + " uris");
  }
  std::size_t failed = 0;
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const json& item = results[i];
    if (o.json) {
      out += item.dump() + "\n";
    } else if (item.contains("storageKey")) {
      out += item["storageKey"].get<std::string>() + "\n";
    } else {
      out += "\n";
    }
    if (item.contains("error")) {
      ++failed;
      const json& error = item["error"];
      std::cerr << "p2pcp: line " << lines[i].number << ": "
                << error.value("data", json::object()).value("error", "ERROR") << ": "
                << error.value("message", "") << '\n';
    }
  }
  std::cout << out << std::flush;
  return failed;
}

bool isUtf8(const std::string& text) {
  try {
    (void)json(text).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

}  // namespace

int deriveStdin(const Options& o, const std::string& kind) {
  const std::size_t limit = deriveBatchLimit();
  std::vector<Line> batch;
  std::size_t failed = 0;
  std::size_t number = 0;
  // Lines that cannot be sent (not UTF-8) are answered here, in their place.
  const auto flush = [&] {
    if (!batch.empty()) {
      failed += deriveBatch(o, kind, batch);
      batch.clear();
    }
  };
  std::string text;
  while (std::getline(std::cin, text)) {
    ++number;
    if (!isUtf8(text)) {
      flush();
      std::cout << (o.json ? R"({"error":{"data":{"error":"BAD_REQUEST"},"message":"not UTF-8"}})"
                           : "")
                << '\n';
      std::cerr << "p2pcp: line " << number << ": BAD_REQUEST: the uri is not UTF-8\n";
      ++failed;
      continue;
    }
    batch.push_back({number, std::move(text)});
    if (batch.size() == limit) {
      flush();
    }
  }
  flush();
  return failed == 0 ? kExitOk : kExitAgentError;
}

}  // namespace p2pcp::cli
