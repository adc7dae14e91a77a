// SPDX-License-Identifier: Apache-2.0
// p2pcp-json-bench: what strict JSON parsing costs, against plain
// nlohmann::json::parse measured in the same run, for the two ways nlohmann
// offers to check depth and duplicate keys while parsing:
//   sax       parseStrictJson (agent/core/src/json_parse.cpp): a SAX handler that
//             builds the document itself and checks duplicates with the object's
//             own insert;
//   callback  json::parse with a parser callback that tracks depth and keeps its
//             own set of keys per open object (written here only to compare).
// Inputs: (a) a 16 MiB request whose params hold one big base64 string, (b) a
// 1 MiB request with 10,000 small objects, (c) a typical 200-byte request.
//
//   cmake --build out/build/bench --target p2pcp-json-bench
//   out/build/bench/bin/p2pcp-json-bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "p2pcp/agent/json_parse.hpp"

namespace {

using nlohmann::json;
using p2pcp::agent::JsonParseError;
using Clock = std::chrono::steady_clock;

// The contender: the same checks through nlohmann's parser callback.
json parseWithCallback(std::string_view text, std::size_t maxDepth) {
  std::vector<std::unordered_set<std::string>> keys;  // one set per open object, reused
  std::size_t openObjects = 0;
  const json::parser_callback_t check = [&](int depth, json::parse_event_t event,
                                            json& value) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (static_cast<std::size_t>(depth) >= maxDepth) {
          throw JsonParseError(JsonParseError::Kind::TooDeep, "nested too deep");
        }
        if (event == json::parse_event_t::object_start) {
          if (keys.size() <= openObjects) {
            keys.emplace_back();
          }
          keys[openObjects++].clear();
        }
        break;
      case json::parse_event_t::object_end:
        --openObjects;
        break;
      case json::parse_event_t::key:
        if (!keys[openObjects - 1].insert(value.get_ref<const std::string&>()).second) {
          throw JsonParseError(JsonParseError::Kind::DuplicateKey, "duplicate key");
        }
        break;
      default:
        break;
    }
    return true;
  };
  return json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/true,
                     /*ignore_comments=*/false);
}

struct Input {
  const char* name;
  std::string text;
  int runs;  // parses per measurement
};

std::string bigStringRequest() {
  std::string data(16U * 1024 * 1024 - 200, 'A');
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7919) % 64];
  }
  return json{{"jsonrpc", "2.0"},
              {"id", 7},
              {"method", "seal"},
              {"params", {{"uri", "/notes/big"}, {"data", data}}}}
      .dump();
}

std::string manyObjectsRequest() {
  json items = json::array();
  for (int i = 0; i < 10000; ++i) {
    // About 105 bytes each: 10,000 of them make 1 MiB.
    items.push_back({{"uri", "/photos/2024/album/" + std::to_string(i)},
                     {"seq", 100000 + i},
                     {"kind", i % 2 == 0 ? "public" : "private"},
                     {"size", 4096},
                     {"tag", "sunset-at-the-lake"}});
  }
  return json{{"jsonrpc", "2.0"}, {"id", 8}, {"method", "batch"}, {"params", {{"items", items}}}}
      .dump();
}

std::string typicalRequest() {
  return R"({"jsonrpc":"2.0","id":42,"method":"deriveStorageKey","params":{"key":"pkcs11:token=p2pcp;object=main;type=private","kind":"private","uri":"/notes/2024"},"origin":"https://app.p2pcp.example"})";
}

// Time of one parse, averaged over `input.runs` parses.
template <typename Parse>
double microsPerParse(const Input& input, Parse parse) {
  const auto start = Clock::now();
  for (int i = 0; i < input.runs; ++i) {
    const json doc = parse(input.text);
    if (doc.empty()) {
      std::abort();  // keeps the parse from being optimised away
    }
  }
  const std::chrono::duration<double, std::micro> took = Clock::now() - start;
  return took.count() / input.runs;
}

double median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main() {
  const std::vector<Input> inputs{
      {"(a) 16 MiB, one base64 string", bigStringRequest(), 1},
      {"(b) 1 MiB, 10,000 small objects", manyObjectsRequest(), 5},
      {"(c) typical request", typicalRequest(), 20000},
  };
  // Every variant must accept every input and build the same document.
  for (const auto& input : inputs) {
    const json plain = json::parse(input.text);
    if (p2pcp::agent::parseStrictJson(input.text) != plain ||
        parseWithCallback(input.text, p2pcp::agent::kMaxJsonDepth) != plain) {
      (void)std::fprintf(stderr, "variants disagree on %s\n", input.name);
      return 1;
    }
  }
  std::printf("%-34s %10s %12s %8s %12s %8s\n", "input (bytes)", "plain us", "sax us", "ratio",
              "callback us", "ratio");
  constexpr int kRounds = 15;
  for (const auto& input : inputs) {
    // Rounds interleave the variants, so drift on a busy machine hits all alike;
    // the median of the rounds is reported.
    std::vector<double> plain;
    std::vector<double> sax;
    std::vector<double> callback;
    for (int round = 0; round < kRounds; ++round) {
      plain.push_back(microsPerParse(input, [](const std::string& t) { return json::parse(t); }));
      sax.push_back(microsPerParse(
          input, [](const std::string& t) { return p2pcp::agent::parseStrictJson(t); }));
      callback.push_back(microsPerParse(input, [](const std::string& t) {
        return parseWithCallback(t, p2pcp::agent::kMaxJsonDepth);
      }));
    }
    const double p = median(plain);
    const double s = median(sax);
    const double c = median(callback);
    std::printf("%-26s %7zu %10.1f %12.1f %8.2f %12.1f %8.2f\n", input.name, input.text.size(), p,
                s, s / p, c, c / p);
  }
  return 0;
}
