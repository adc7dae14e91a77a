// SPDX-License-Identifier: Apache-2.0
// The bulk forms of the p2pcp operations: deriveStorageKeys, signBlocks,
// sealMany, openMany (docs/protocol.md, "Bulk methods"). One call resolves the
// key and derives the root once; each item then runs the single form's code
// (scheme_ops.cpp). What is wrong with one item is that item's error; what is
// wrong with the call (its common params, too many items, consent, the key,
// the PIN for the root) fails the call.
#include <algorithm>
#include <variant>

#include "p2pcp/agent/errors.hpp"
#include "p2pcp/agent/handlers.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/no_wait.hpp"
#include "p2pcp/agent/params.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/scheme/scheme.hpp"
#include "scheme_ops.hpp"

namespace p2pcp::agent {

using nlohmann::json;

namespace {

// With these, every reply fits the browser's 1 MiB native message (a test
// builds the worst case of each): 2048 storage keys or item errors, 256
// signatures, and sealed boxes or plaintexts of at most 512 KiB in all.
constexpr std::size_t kMaxStorageKeys = 2048;
constexpr std::size_t kMaxBlocks = 256;
constexpr std::size_t kMaxBoxes = 256;
constexpr std::size_t kMaxBatchBytes = 512 * 1024;
// An item's error message never echoes a whole input.
constexpr std::size_t kMaxItemMessage = 200;

std::string boundedMessage(std::string_view message) {
  if (message.size() <= kMaxItemMessage) {
    return std::string(message);
  }
  std::size_t cut = kMaxItemMessage - 3;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0U) == 0x80U) {
    --cut;  // never split a UTF-8 sequence
  }
  return std::string(message.substr(0, cut)) + "...";
}

// The error of one item, from inside its catch block: typed as a whole call's
// would be, with a bounded message, and without the token's URI for a page
// (as the dispatcher does for a call's error).
AgentError currentItemError(const Caller& caller) {
  try {
    rethrowAsAgentError();
  } catch (const AgentError& error) {
    json data = error.data();
    if (caller.isPage()) {
      data.erase("token");
    }
    if (error.code() == ErrorCode::Internal) {
      logError(std::string("a batch item failed: ") + error.what());
    }
    return {error.code(), boundedMessage(error.what()), std::move(data)};
  }
}

json itemErrorResult(const AgentError& error) {
  return {{"error", errorObject(error)}};
}

// The array param `name` with 1 to maxItems items; anything else fails the call.
const json::array_t& itemsParam(const json& params, std::string_view name, std::size_t maxItems) {
  const std::string quoted = "\"" + std::string(name) + "\"";
  const auto it = params.find(name);
  if (it == params.end() || it->is_null()) {
    badRequest("missing parameter " + quoted);
  }
  if (!it->is_array()) {
    badRequest("parameter " + quoted + " must be an array");
  }
  const auto& items = it->get_ref<const json::array_t&>();
  if (items.empty() || items.size() > maxItems) {
    throw AgentError(ErrorCode::BadRequest,
                     "parameter " + quoted + " must hold 1 to " + std::to_string(maxItems) +
                         " items; split bigger jobs (hello's batchLimits)",
                     {{"limit", maxItems}});
  }
  return items;
}

// One uri of deriveStorageKeys, read in place (no copy).
std::string_view uriItem(const json& item) {
  if (!item.is_string()) {
    badRequest("each item of \"uris\" must be a string");
  }
  const auto& uri = item.get_ref<const std::string&>();
  if (uri.empty() || uri.size() > kMaxUri) {
    badRequest("each item of \"uris\" must be 1 to " + std::to_string(kMaxUri) + " bytes");
  }
  return uri;
}

// Token failures after which the next public item would fail the same way or
// ask the person again: the rest of the batch gets this error without a token call.
bool endsTokenSession(ErrorCode code) {
  switch (code) {
    case ErrorCode::TokenRemoved:
    case ErrorCode::TokenUnavailable:
    case ErrorCode::TokenNotFound:
    case ErrorCode::PinIncorrect:
    case ErrorCode::PinLocked:
    case ErrorCode::PinCancelled:
    case ErrorCode::PinentryFailed:
      return true;
    default:
      return false;
  }
}

// One item of sealMany/openMany: its uri and decoded bytes, or its error.
struct BoxItem {
  std::string_view uri;
  Bytes bytes;
};
using ReadBox = std::variant<BoxItem, AgentError>;

// Reads every item (uri and the base64 member `field`) before any work, so the
// byte limit is known before the token is touched.
std::vector<ReadBox> readBoxes(const Caller& caller, const json::array_t& items,
                               std::string_view field) {
  std::vector<ReadBox> read;
  read.reserve(items.size());
  std::size_t total = 0;
  for (const json& item : items) {
    try {
      if (!item.is_object()) {
        badRequest("each item of \"items\" must be an object");
      }
      const Params p(item, {"uri", field});
      (void)p.string("uri", kMaxUri);  // checks it
      BoxItem box{item.find("uri")->get_ref<const std::string&>(), p.base64(field)};
      total += box.bytes.size();
      if (total > kMaxBatchBytes) {
        throw AgentError(ErrorCode::BadRequest,
                         "the items of one call hold at most " + std::to_string(kMaxBatchBytes) +
                             " bytes of " + std::string(field) + "; split bigger jobs",
                         {{"limit", kMaxBatchBytes}});
      }
      read.emplace_back(std::move(box));
    } catch (const AgentError& error) {
      if (error.data().contains("limit")) {
        throw;  // the call's limit, not the item's problem
      }
      read.emplace_back(currentItemError(caller));
    } catch (const MustNotWait&) {
      throw;
    } catch (...) {
      read.emplace_back(currentItemError(caller));
    }
  }
  return read;
}

template <typename Work>
json boxResults(const Caller& caller, std::vector<ReadBox>& boxes, Work&& work) {
  json results = json::array();
  results.get_ref<json::array_t&>().reserve(boxes.size());
  for (auto& read : boxes) {
    if (const auto* error = std::get_if<AgentError>(&read)) {
      results.push_back(itemErrorResult(*error));
      continue;
    }
    try {
      results.push_back(work(std::get<BoxItem>(read)));
    } catch (const MustNotWait&) {
      throw;
    } catch (...) {
      results.push_back(itemErrorResult(currentItemError(caller)));
    }
  }
  return results;
}

}  // namespace

json batchLimits() {
  return {{"deriveStorageKeys", kMaxStorageKeys},
          {"signBlocks", kMaxBlocks},
          {"sealMany", kMaxBoxes},
          {"openMany", kMaxBoxes},
          {"batchBytes", kMaxBatchBytes}};
}

json handleDeriveStorageKeys(RequestContext& context, const json& params) {
  const Params p(params, {"key", "kind", "uris", "space"});
  const bool privateKind = privateKindParam(p);
  const json::array_t& uris = itemsParam(params, "uris", kMaxStorageKeys);
  SchemeCall call(context, spaceFor(context, p), p.optionalString("key"));
  if (privateKind) {
    (void)call.root();  // once for the call, before any item: a PIN problem fails the call
  }
  json results = json::array();
  results.get_ref<json::array_t&>().reserve(uris.size());
  for (const json& item : uris) {
    try {
      results.push_back({{"storageKey", storageKeyHex(call, privateKind, uriItem(item))}});
    } catch (const MustNotWait&) {
      throw;
    } catch (...) {
      results.push_back(itemErrorResult(currentItemError(context.caller)));
    }
  }
  json result = {{"kind", privateKind ? "private" : "public"}, {"results", std::move(results)}};
  if (privateKind) {
    result["space"] = call.space().name();
  }
  return result;
}

json handleSignBlocks(RequestContext& context, const json& params) {
  const Params p(params, {"key", "blocks", "space", "signatureFormat"});
  const Space space = spaceFor(context, p);
  const SignatureFormat format = signatureFormatParam(p);
  const json::array_t& blocks = itemsParam(params, "blocks", kMaxBlocks);

  // Every item is read and checked before the token is touched.
  std::vector<std::variant<BlockRequest, AgentError>> requests;
  requests.reserve(blocks.size());
  bool needRoot = false;
  for (const json& item : blocks) {
    try {
      BlockRequest block = readBlockRequest(blockItemParams(item), space);
      needRoot = needRoot || block.needsRoot();
      requests.emplace_back(std::move(block));
    } catch (const MustNotWait&) {
      throw;
    } catch (...) {
      requests.emplace_back(currentItemError(context.caller));
    }
  }

  SchemeCall call(context, space, p.optionalString("key"));
  if (needRoot) {
    (void)call.root();  // once for the call, before any item
  }
  // Public blocks are signed one by one on the token. Once the token or the
  // person ends the session (removed, PIN cancelled or blocked), the remaining
  // public blocks get that error: no more token calls, no more dialogs.
  std::optional<AgentError> sessionEnded;
  json results = json::array();
  results.get_ref<json::array_t&>().reserve(requests.size());
  for (const auto& request : requests) {
    if (const auto* error = std::get_if<AgentError>(&request)) {
      results.push_back(itemErrorResult(*error));
      continue;
    }
    const auto& block = std::get<BlockRequest>(request);
    if (!block.needsRoot() && sessionEnded) {
      results.push_back(itemErrorResult(*sessionEnded));
      continue;
    }
    try {
      results.push_back(signBlockRequest(call, block, format));
    } catch (const MustNotWait&) {
      throw;
    } catch (...) {
      AgentError error = currentItemError(context.caller);
      if (!block.needsRoot() && endsTokenSession(error.code())) {
        sessionEnded = error;
      }
      results.push_back(itemErrorResult(error));
    }
  }
  return {{"space", call.space().name()}, {"results", std::move(results)}};
}

json handleSealMany(RequestContext& context, const json& params) {
  const Params p(params, {"key", "items", "space"});
  const Space space = spaceFor(context, p);
  std::vector<ReadBox> boxes =
      readBoxes(context.caller, itemsParam(params, "items", kMaxBoxes), "plaintext");
  SchemeCall call(context, space, p.optionalString("key"));
  const ByteView root = call.root();
  json results = boxResults(context.caller, boxes, [&](const BoxItem& box) -> json {
    return {{"sealed", toBase64(scheme::seal(root, box.uri, box.bytes))}};
  });
  return {{"space", call.space().name()}, {"results", std::move(results)}};
}

json handleOpenMany(RequestContext& context, const json& params) {
  const Params p(params, {"key", "items", "space"});
  const Space space = spaceFor(context, p);
  std::vector<ReadBox> boxes =
      readBoxes(context.caller, itemsParam(params, "items", kMaxBoxes), "sealed");
  SchemeCall call(context, space, p.optionalString("key"));
  const ByteView root = call.root();
  json results = boxResults(context.caller, boxes, [&](const BoxItem& box) -> json {
    return {{"plaintext", toBase64(scheme::open(root, box.uri, box.bytes))}};
  });
  return {{"space", call.space().name()}, {"results", std::move(results)}};
}

}  // namespace p2pcp::agent
