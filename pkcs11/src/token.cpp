// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/token.hpp"

#include <openssl/x509.h>

#include <algorithm>

#include "p2pcp/common/digest.hpp"
#include "p2pcp/common/ossl.hpp"
#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/text.hpp"
#include "p2pcp/pkcs11/uri.hpp"

namespace p2pcp::pkcs11 {

namespace {

// DER DigestInfo prefix for SHA-256 (RFC 8017, 9.2 note 1).
constexpr std::array<std::uint8_t, 19> kSha256DigestInfo{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                         0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                         0x01, 0x05, 0x00, 0x04, 0x20};

Bytes sha384(ByteView message) {
  Bytes out(48);
  unsigned int length = 0;
  ossl::check(
      EVP_Digest(message.data(), message.size(), out.data(), &length, EVP_sha384(), nullptr),
      "EVP_Digest");
  return out;
}

bool algorithmFits(KeyType type, SignAlgorithm algorithm) {
  switch (algorithm) {
    case SignAlgorithm::RsaPkcs1Sha256:
    case SignAlgorithm::RsaPssSha256:
      return type == KeyType::Rsa;
    case SignAlgorithm::EcdsaSha256:
    case SignAlgorithm::EcdsaSha384:
      return type == KeyType::EcP256 || type == KeyType::EcP384;
    case SignAlgorithm::Ed25519:
      return type == KeyType::Ed25519;
  }
  return false;
}

bool handleStale(CK_RV rv) {
  return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID;
}

}  // namespace

Token::Token(std::shared_ptr<Module> module, CK_SLOT_ID slot)
    : module_(std::move(module)), slot_(slot) {}

CK_TOKEN_INFO Token::tokenInfo() const {
  CK_TOKEN_INFO info{};
  check(module_->functions()->C_GetTokenInfo(slot_, &info), "C_GetTokenInfo");
  info_ = info;
  return info;
}

TokenDescription Token::describe() const {
  return describeTokenInfo(tokenInfo(), slot_, module_->name());
}

TokenDescription describeTokenInfo(const CK_TOKEN_INFO& info, CK_SLOT_ID slot,
                                   const std::string& moduleName) {
  TokenDescription out;
  out.uri = formatTokenUri(info);
  out.label = paddedText(info.label);
  out.manufacturer = paddedText(info.manufacturerID);
  out.model = paddedText(info.model);
  out.serial = paddedText(info.serialNumber);
  out.moduleName = moduleName;
  out.slot = slot;
  out.loginRequired = (info.flags & CKF_LOGIN_REQUIRED) != 0;
  out.protectedAuthenticationPath = (info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
  out.writeProtected = (info.flags & CKF_WRITE_PROTECTED) != 0;
  out.pinState = pinStateFromFlags(info.flags);
  return out;
}

Session& Token::session() const {
  // Read-only: it carries the login and every key operation (SoftHSM2 signs a third
  // faster in a read-only session). Creating token objects opens a writable one.
  if (!session_) {
    session_.emplace(module_, slot_, false);
  }
  return *session_;
}

bool Token::loggedIn() const {
  return guarded([&] {
    // C_GetSlotInfo is where modules such as OpenSC look at the reader: a card
    // that was swapped there closes the sessions it had.
    CK_SLOT_INFO slotInfo{};
    check(module_->functions()->C_GetSlotInfo(slot_, &slotInfo), "C_GetSlotInfo");
    if ((slotInfo.flags & CKF_TOKEN_PRESENT) == 0) {
      throw Pkcs11Error(CKR_TOKEN_NOT_PRESENT, "C_GetSlotInfo");
    }
    const CK_STATE state = session().state();
    return state == CKS_RO_USER_FUNCTIONS || state == CKS_RW_USER_FUNCTIONS;
  });
}

void Token::login(const std::optional<SecureString>& pin) {
  guarded([&] { session().login(CKU_USER, pin); });
  invalidateKeys();  // private keys (and their flags) are visible now
}

void Token::logout() noexcept {
  if (session_) {
    session_->logout();
  }
}

void Token::invalidateKeys() noexcept {
  keys_.reset();
  handles_.clear();
}

std::vector<KeyDescription> Token::keys() const {
  if (!keys_) {
    keys_ = guarded([&] { return listKeys(); });
  }
  return *keys_;
}

std::vector<KeyDescription> Token::listKeys() const {
  Session& s = session();
  const CK_TOKEN_INFO info = tokenInfo();
  const std::string tokenUri = formatTokenUri(info);
  std::vector<KeyDescription> keys;
  const auto known = [&](const KeyDescription& key) {
    return std::any_of(keys.begin(), keys.end(), [&](const KeyDescription& k) {
      return k.id == key.id && (!key.id.empty() || k.label == key.label);
    });
  };
  // Private keys are CKA_PRIVATE on most tokens: invisible until login (CAC and
  // PIV cards show only their certificates). So before login on a token that
  // needs one, list the private keys we can see, then every public key or
  // certificate whose private half we cannot see yet, named by the URI its
  // private half will match. Otherwise every private key is visible, and a
  // public key or certificate without one (a trust store's CA certificates,
  // someone else's certificate) is not a key of this person.
  const CK_STATE state = s.state();
  const bool privateKeysMayBeHidden = (info.flags & CKF_LOGIN_REQUIRED) != 0 &&
                                      state != CKS_RO_USER_FUNCTIONS &&
                                      state != CKS_RW_USER_FUNCTIONS;
  for (const CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE}) {
    if (cls != CKO_PRIVATE_KEY && !privateKeysMayBeHidden) {
      break;
    }
    CK_OBJECT_CLASS queryClass = cls;
    std::array query{CK_ATTRIBUTE{CKA_CLASS, &queryClass, sizeof queryClass}};
    for (const CK_OBJECT_HANDLE handle : s.findObjects(query)) {
      KeyDescription key;
      key.id = s.attribute(handle, CKA_ID).value_or(Bytes{});
      const Bytes label = s.attribute(handle, CKA_LABEL).value_or(Bytes{});
      key.label.assign(label.begin(), label.end());
      key.tokenUri = tokenUri;
      if (cls != CKO_PRIVATE_KEY && known(key)) {
        continue;
      }
      CK_ULONG keyType = CKK_RSA;
      if (cls == CKO_CERTIFICATE) {
        keyType = CKK_VENDOR_DEFINED;  // read from the certificate itself
      } else if (const auto type = s.ulongAttribute(handle, CKA_KEY_TYPE)) {
        keyType = *type;
      }
      if (keyType != CKK_RSA && keyType != CKK_EC && keyType != CKK_EC_EDWARDS &&
          keyType != CKK_VENDOR_DEFINED) {
        continue;  // DSA, GOST, ...: not usable for p2pcp
      }
      try {
        describePublicHalf(s, handle, keyType, key);
      } catch (const LayerError&) {
        continue;  // no public half we can read, or an unsupported curve
      }
      key.uri = formatKeyUri(info, key.id, key.label, CKO_PRIVATE_KEY);
      if (cls == CKO_PRIVATE_KEY) {
        key.alwaysAuthenticate = s.boolAttribute(handle, CKA_ALWAYS_AUTHENTICATE).value_or(false);
        key.sensitive = s.boolAttribute(handle, CKA_SENSITIVE).value_or(true);
        key.extractable = s.boolAttribute(handle, CKA_EXTRACTABLE).value_or(false);
        key.canSign = s.boolAttribute(handle, CKA_SIGN).value_or(false);
        key.canDerive = s.boolAttribute(handle, CKA_DERIVE).value_or(false);
        key.canDecrypt = s.boolAttribute(handle, CKA_DECRYPT).value_or(false);
        handles_[key.uri] = {handle, key.alwaysAuthenticate};
      } else {
        // Until login we only know what the public half allows.
        key.canSign = true;
        key.canDerive = key.type == KeyType::EcP256 || key.type == KeyType::EcP384;
        key.canDecrypt = key.type == KeyType::Rsa;
      }
      keys.push_back(std::move(key));
    }
  }
  return keys;
}

// Finds the public half: the public-key object with the same CKA_ID, else a
// certificate with that id, else (RSA) the modulus on the private key itself.
void Token::describePublicHalf(const Session& s, CK_OBJECT_HANDLE object, CK_ULONG keyType,
                               KeyDescription& key) {
  const auto withId = [&](CK_OBJECT_CLASS cls) {
    std::vector<CK_ATTRIBUTE> query{{CKA_CLASS, &cls, sizeof cls}};
    if (!key.id.empty()) {
      query.push_back({CKA_ID, key.id.data(), static_cast<CK_ULONG>(key.id.size())});
    } else {
      query.push_back({CKA_LABEL, key.label.data(), static_cast<CK_ULONG>(key.label.size())});
    }
    return s.findObjects(query);
  };
  std::optional<Bytes> certificate;
  if (keyType == CKK_VENDOR_DEFINED) {
    certificate = s.attribute(object, CKA_VALUE);  // the object is the certificate itself
  }
  for (const CK_OBJECT_HANDLE cert :
       certificate ? std::vector<CK_OBJECT_HANDLE>{} : withId(CKO_CERTIFICATE)) {
    if ((certificate = s.attribute(cert, CKA_VALUE))) {
      break;
    }
  }
  key.certificate = certificate;
  // RSA public values are on the public-key object, and on many tokens also on the
  // private-key object itself.
  const auto readRsa = [&](CK_OBJECT_HANDLE handle) {
    const auto modulus = s.attribute(handle, CKA_MODULUS);
    const auto exponent = s.attribute(handle, CKA_PUBLIC_EXPONENT);
    if (!modulus || !exponent) {
      return false;
    }
    key.type = KeyType::Rsa;
    key.spki = spkiFromRsa(*modulus, *exponent);
    key.bits = modulus->size() * 8;
    return true;
  };

  for (const CK_OBJECT_HANDLE pub : withId(CKO_PUBLIC_KEY)) {
    if (keyType == CKK_RSA) {
      if (readRsa(pub)) {
        return;
      }
    } else {
      const auto params = s.attribute(pub, CKA_EC_PARAMS);
      const auto point = s.attribute(pub, CKA_EC_POINT);
      if (params && point) {
        key.spki = spkiFromEc(*params, *point, &key.type);
        key.bits = key.type == KeyType::EcP384 ? 384 : 256;
        return;
      }
    }
  }
  if (certificate) {
    const unsigned char* p = certificate->data();
    const ossl::X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(certificate->size())));
    const ossl::EvpPkeyPtr pkey(x509 ? X509_get_pubkey(x509.get()) : nullptr);
    if (pkey) {
      key.spki = ossl::subjectPublicKeyInfo(pkey.get());
      const int id = EVP_PKEY_get_base_id(pkey.get());
      if (id == EVP_PKEY_RSA) {
        key.type = KeyType::Rsa;
      } else if (id == EVP_PKEY_ED25519) {
        key.type = KeyType::Ed25519;
      } else if (id == EVP_PKEY_EC) {
        key.type = EVP_PKEY_get_bits(pkey.get()) == 384 ? KeyType::EcP384 : KeyType::EcP256;
      } else {
        throw LayerError(LayerError::Kind::Unsupported, "unsupported certificate key");
      }
      key.bits = static_cast<std::size_t>(EVP_PKEY_get_bits(pkey.get()));
      return;
    }
  }
  if (keyType == CKK_RSA && readRsa(object)) {
    return;
  }
  throw LayerError(LayerError::Kind::Unsupported,
                   "no readable public key for \"" + key.label + "\"");
}

Token::PrivateKeyHandle Token::findPrivateKey(const KeyDescription& key) const {
  if (const auto it = handles_.find(key.uri); it != handles_.end()) {
    return it->second;
  }
  CK_OBJECT_CLASS privateClass = CKO_PRIVATE_KEY;
  std::vector<CK_ATTRIBUTE> query{{CKA_CLASS, &privateClass, sizeof privateClass}};
  Bytes id = key.id;
  std::string label = key.label;
  if (!id.empty()) {
    query.push_back({CKA_ID, id.data(), static_cast<CK_ULONG>(id.size())});
  }
  if (!label.empty()) {
    query.push_back({CKA_LABEL, label.data(), static_cast<CK_ULONG>(label.size())});
  }
  const auto found = session().findObjects(query);
  if (found.size() != 1) {
    throw LayerError(found.empty() ? LayerError::Kind::NoSuchKey : LayerError::Kind::AmbiguousKey,
                     "the key \"" + key.label + "\" is not (uniquely) on the token");
  }
  const PrivateKeyHandle entry{
      found.front(),
      session().boolAttribute(found.front(), CKA_ALWAYS_AUTHENTICATE).value_or(false)};
  handles_[key.uri] = entry;
  return entry;
}

bool Token::needsContextLogin(const KeyDescription& key) const {
  return guarded([&] { return findPrivateKey(key).alwaysAuthenticate; });
}

template <typename Operation>
auto Token::withKeyHandle(const KeyDescription& key, Operation&& operation) const {
  return guarded([&] {
    try {
      return operation(findPrivateKey(key));
    } catch (const Pkcs11Error& e) {
      if (!handleStale(e.rv())) {
        throw;
      }
      // Handles can change when another application re-creates objects; look once more.
      handles_.erase(key.uri);
      return operation(findPrivateKey(key));
    }
  });
}

Bytes Token::sign(const KeyDescription& key, SignAlgorithm algorithm, ByteView message,
                  const std::optional<SecureString>& contextPin) const {
  if (!algorithmFits(key.type, algorithm)) {
    throw LayerError(LayerError::Kind::Unsupported,
                     std::string(signAlgorithmName(algorithm)) + " does not fit a " +
                         std::string(keyTypeName(key.type)) + " key");
  }
  Bytes input;
  CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
  CK_RSA_PKCS_PSS_PARAMS pss{CKM_SHA256, CKG_MGF1_SHA256, 32};
  switch (algorithm) {
    case SignAlgorithm::RsaPkcs1Sha256: {
      // Hash here and send DigestInfo to raw CKM_RSA_PKCS: every RSA card has it.
      const Sha256 hash = sha256(message);
      input.assign(kSha256DigestInfo.begin(), kSha256DigestInfo.end());
      input.insert(input.end(), hash.begin(), hash.end());
      break;
    }
    case SignAlgorithm::RsaPssSha256: {
      const Sha256 hash = sha256(message);
      input.assign(hash.begin(), hash.end());
      mechanism = {CKM_RSA_PKCS_PSS, &pss, sizeof pss};
      break;
    }
    case SignAlgorithm::EcdsaSha256: {
      // SoftHSM2 (and many cards) lack CKM_ECDSA_SHA256: hash here, sign raw.
      const Sha256 hash = sha256(message);
      input.assign(hash.begin(), hash.end());
      mechanism = {CKM_ECDSA, nullptr, 0};
      break;
    }
    case SignAlgorithm::EcdsaSha384:
      input = sha384(message);
      mechanism = {CKM_ECDSA, nullptr, 0};
      break;
    case SignAlgorithm::Ed25519:
      input.assign(message.begin(), message.end());
      mechanism = {CKM_EDDSA, nullptr, 0};
      break;
  }
  Bytes signature = withKeyHandle(key, [&](const PrivateKeyHandle& object) {
    Session& s = session();
    if (!object.alwaysAuthenticate) {
      return s.sign(mechanism, object.handle, input);
    }
    auto mech = mechanism;
    check(s.fn()->C_SignInit(s.handle(), &mech, object.handle), "C_SignInit");
    s.login(CKU_CONTEXT_SPECIFIC, contextPin);
    return s.signAfterInit(input);
  });
  if (algorithm == SignAlgorithm::EcdsaSha256 || algorithm == SignAlgorithm::EcdsaSha384) {
    return ecdsaRawToDer(signature);
  }
  return signature;
}

SecureBytes Token::deriveEcdh(const KeyDescription& key, ByteView peerPoint,
                              const std::optional<SecureString>& contextPin) const {
  if (key.type != KeyType::EcP256 && key.type != KeyType::EcP384) {
    throw LayerError(LayerError::Kind::Unsupported, "ECDH needs a P-256 or P-384 key");
  }
  const CK_ULONG length = key.type == KeyType::EcP256 ? 32 : 48;
  return withKeyHandle(key, [&](const PrivateKeyHandle& object) {
    Session& s = session();
    if (object.alwaysAuthenticate) {
      s.login(CKU_CONTEXT_SPECIFIC, contextPin);
    }
    const CK_OBJECT_HANDLE handle = object.handle;
    try {
      return s.deriveEcdh(handle, peerPoint, length);
    } catch (const Pkcs11Error& e) {
      if (e.rv() != CKR_MECHANISM_PARAM_INVALID && e.rv() != CKR_ARGUMENTS_BAD) {
        throw;
      }
      // Some modules want the peer point DER-wrapped as an OCTET STRING.
      Bytes wrapped{0x04};
      if (peerPoint.size() > 127) {
        wrapped.push_back(0x81);
      }
      wrapped.push_back(static_cast<std::uint8_t>(peerPoint.size()));
      wrapped.insert(wrapped.end(), peerPoint.begin(), peerPoint.end());
      return s.deriveEcdh(handle, wrapped, length);
    }
  });
}

SecureBytes Token::decryptOaep(const KeyDescription& key, ByteView ciphertext, OaepHash hash,
                               const std::optional<SecureString>& contextPin) const {
  if (key.type != KeyType::Rsa) {
    throw LayerError(LayerError::Kind::Unsupported, "RSA-OAEP needs an RSA key");
  }
  CK_RSA_PKCS_OAEP_PARAMS params{CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, nullptr, 0};
  if (hash == OaepHash::Sha1) {
    params.hashAlg = CKM_SHA_1;
    params.mgf = CKG_MGF1_SHA1;
  }
  const CK_MECHANISM mechanism{CKM_RSA_PKCS_OAEP, &params, sizeof params};
  return withKeyHandle(key, [&](const PrivateKeyHandle& object) {
    Session& s = session();
    if (!object.alwaysAuthenticate) {
      return s.decrypt(mechanism, object.handle, ciphertext);
    }
    auto mech = mechanism;
    check(s.fn()->C_DecryptInit(s.handle(), &mech, object.handle), "C_DecryptInit");
    s.login(CKU_CONTEXT_SPECIFIC, contextPin);
    return s.decryptAfterInit(ciphertext);
  });
}

}  // namespace p2pcp::pkcs11
