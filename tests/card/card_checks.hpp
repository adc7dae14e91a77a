// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the card tests check results with, independently of the agent: OpenSSL
// signature verification and AES-GCM opening, and polling with a deadline.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "p2pcp/client/agent_client.hpp"
#include "p2pcp/common/bytes.hpp"

namespace p2pcp::testing {

// {"result": ...} or {"error": <the JSON-RPC error object>}.
nlohmann::json tryCall(client::AgentClient& agent, const std::string& method,
                       const nlohmann::json& params = nlohmann::json::object());
// "OK" or error.data.error.
std::string codeOf(const nlohmann::json& outcome);

// RSASSA-PKCS1-v1_5 with SHA-256 over `message`, checked by OpenSSL against the
// DER SubjectPublicKeyInfo.
bool verifyRsaSha256(ByteView spki, ByteView message, ByteView signature);

// Opens a p2pcp sealed box (0x01 || nonce(12) || ciphertext || tag(16), AAD
// "p2pcp/v1/seal\0" || uri; docs/scheme.md) with OpenSSL's AES-256-GCM.
std::optional<Bytes> openSealedBox(ByteView key, const std::string& uri, ByteView box);

// Calls `condition` every 100 ms until it returns true; false at the deadline.
bool pollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// The agent's tokens from OpenSC's module (listTokens), e.g. the card.
nlohmann::json cardTokens(client::AgentClient& agent);

// Waits up to `timeout` for the next notification on a subscribed connection.
std::optional<nlohmann::json> nextNotification(const client::AgentClient& subscriber,
                                               std::chrono::milliseconds timeout);

}  // namespace p2pcp::testing
