// SPDX-License-Identifier: Apache-2.0
#include "card_checks.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>

#include <thread>

#include "card_stack.hpp"
#include "p2pcp/common/ossl.hpp"

namespace p2pcp::testing {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

json tryCall(client::AgentClient& agent, const std::string& method, const json& params) {
  try {
    return {{"result", agent.call(method, params)}};
  } catch (const client::AgentCallError& e) {
    return {{"error", e.error()}};
  }
}

std::string codeOf(const json& outcome) {
  return outcome.contains("error") ? outcome["error"]["data"]["error"].get<std::string>() : "OK";
}

bool verifyRsaSha256(ByteView spki, ByteView message, ByteView signature) {
  const unsigned char* p = spki.data();
  const ossl::EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return false;
  }
  const ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

std::optional<Bytes> openSealedBox(ByteView key, const std::string& uri, ByteView box) {
  constexpr std::size_t kNonce = 12;
  constexpr std::size_t kTag = 16;
  if (key.size() != 32 || box.size() < 1 + kNonce + kTag || box[0] != 0x01) {
    return std::nullopt;
  }
  Bytes aad;
  append(aad, std::string_view("p2pcp/v1/seal\0", 14));
  append(aad, uri);
  const auto nonce = box.subspan(1, kNonce);
  const auto ciphertext = box.subspan(1 + kNonce, box.size() - 1 - kNonce - kTag);
  const auto tag = box.subspan(box.size() - kTag);
  const ossl::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  Bytes plaintext(ciphertext.size() + 16);
  int length = 0;
  int finalLength = 0;
  Bytes tagCopy(tag.begin(), tag.end());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonce), nullptr) !=
          1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, aad.data(), static_cast<int>(aad.size())) !=
          1 ||
      EVP_DecryptUpdate(ctx.get(), plaintext.data(), &length, ciphertext.data(),
                        static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag),
                          tagCopy.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + length, &finalLength) != 1) {
    return std::nullopt;
  }
  plaintext.resize(static_cast<std::size_t>(length + finalLength));
  return plaintext;
}

bool pollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

json cardTokens(client::AgentClient& agent) {
  json tokens = json::array();
  for (const auto& token : agent.call("listTokens")) {
    if (token.value("module", "") == CardStack::kOpenScModule) {
      tokens.push_back(token);
    }
  }
  return tokens;
}

std::optional<json> nextNotification(const client::AgentClient& subscriber,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return std::nullopt;
    }
    pollfd fd{subscriber.fd(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left)) <= 0) {
      continue;
    }
    const auto message = subscriber.receive();
    if (!message) {
      return std::nullopt;
    }
    auto parsed = json::parse(*message);
    if (parsed.contains("method")) {
      return parsed;
    }
  }
}

}  // namespace p2pcp::testing
