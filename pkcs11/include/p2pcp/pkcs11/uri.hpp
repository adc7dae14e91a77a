// SPDX-License-Identifier: Apache-2.0
#pragma once
// PKCS#11 URIs (RFC 7512), parsed and formatted by p11-kit.

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp::pkcs11 {

std::string formatTokenUri(const CK_TOKEN_INFO& token);
std::string formatKeyUri(const CK_TOKEN_INFO& token, ByteView id, const std::string& label,
                         CK_OBJECT_CLASS objectClass);

// A parsed URI used as a filter: an attribute the URI does not name matches anything.
class UriFilter {
 public:
  // Throws LayerError(BadUri) unless `uri` is a well-formed "pkcs11:" URI.
  explicit UriFilter(const std::string& uri);
  UriFilter(const UriFilter&) = delete;
  UriFilter& operator=(const UriFilter&) = delete;
  UriFilter(UriFilter&&) noexcept;
  UriFilter& operator=(UriFilter&&) noexcept;
  ~UriFilter();

  [[nodiscard]] bool matchesModule(const CK_INFO& info) const;
  [[nodiscard]] bool matchesToken(const CK_TOKEN_INFO& token) const;
  // Matches the object attributes the URI can name: id, object (label), type (class).
  [[nodiscard]] bool matchesObject(ByteView id, const std::string& label,
                                   CK_OBJECT_CLASS objectClass) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace p2pcp::pkcs11
