// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/types.hpp"

#include <array>
#include <utility>

namespace p2pcp::pkcs11 {

namespace {
constexpr std::array kKeyTypes{
    std::pair{KeyType::Rsa, std::string_view{"rsa"}},
    std::pair{KeyType::EcP256, std::string_view{"ec-p256"}},
    std::pair{KeyType::EcP384, std::string_view{"ec-p384"}},
    std::pair{KeyType::Ed25519, std::string_view{"ed25519"}},
};
constexpr std::array kSignAlgorithms{
    std::pair{SignAlgorithm::RsaPkcs1Sha256, std::string_view{"rsa-pkcs1-sha256"}},
    std::pair{SignAlgorithm::RsaPssSha256, std::string_view{"rsa-pss-sha256"}},
    std::pair{SignAlgorithm::EcdsaSha256, std::string_view{"ecdsa-sha256"}},
    std::pair{SignAlgorithm::EcdsaSha384, std::string_view{"ecdsa-sha384"}},
    std::pair{SignAlgorithm::Ed25519, std::string_view{"ed25519"}},
};

template <typename Table, typename E>
std::string_view nameOf(const Table& table, E value) noexcept {
  for (const auto& [v, name] : table) {
    if (v == value) {
      return name;
    }
  }
  return "unknown";
}

template <typename E, typename Table>
std::optional<E> valueOf(const Table& table, std::string_view name) noexcept {
  for (const auto& [v, n] : table) {
    if (n == name) {
      return v;
    }
  }
  return std::nullopt;
}
}  // namespace

std::string_view keyTypeName(KeyType type) noexcept {
  return nameOf(kKeyTypes, type);
}
std::optional<KeyType> keyTypeFromName(std::string_view name) noexcept {
  return valueOf<KeyType>(kKeyTypes, name);
}
std::string_view signAlgorithmName(SignAlgorithm algorithm) noexcept {
  return nameOf(kSignAlgorithms, algorithm);
}
std::optional<SignAlgorithm> signAlgorithmFromName(std::string_view name) noexcept {
  return valueOf<SignAlgorithm>(kSignAlgorithms, name);
}

std::string_view pinStateName(PinState state) noexcept {
  switch (state) {
    case PinState::Ok:
      return "ok";
    case PinState::CountLow:
      return "countLow";
    case PinState::FinalTry:
      return "finalTry";
    case PinState::Locked:
      return "locked";
    case PinState::NotInitialized:
      return "notInitialized";
  }
  return "ok";
}

PinState pinStateFromFlags(CK_FLAGS tokenFlags) noexcept {
  // Order matters: a locked PIN may also carry the low-count flags.
  if ((tokenFlags & CKF_USER_PIN_LOCKED) != 0) {
    return PinState::Locked;
  }
  if ((tokenFlags & CKF_USER_PIN_INITIALIZED) == 0) {
    return PinState::NotInitialized;
  }
  if ((tokenFlags & CKF_USER_PIN_FINAL_TRY) != 0) {
    return PinState::FinalTry;
  }
  if ((tokenFlags & CKF_USER_PIN_COUNT_LOW) != 0) {
    return PinState::CountLow;
  }
  return PinState::Ok;
}

}  // namespace p2pcp::pkcs11
