// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/uri.hpp"

#include <p11-kit/uri.h>

#include <cstdlib>
#include <cstring>

#include "p2pcp/pkcs11/error.hpp"

namespace p2pcp::pkcs11 {

namespace {

struct UriDeleter {
  void operator()(P11KitUri* uri) const noexcept { p11_kit_uri_free(uri); }
};
using UriPtr = std::unique_ptr<P11KitUri, UriDeleter>;

UriPtr newUri() {
  UriPtr uri(p11_kit_uri_new());
  if (!uri) {
    throw std::bad_alloc();
  }
  return uri;
}

std::string format(P11KitUri* uri, P11KitUriType type) {
  char* text = nullptr;
  if (p11_kit_uri_format(uri, type, &text) != P11_KIT_URI_OK || text == nullptr) {
    throw LayerError(LayerError::Kind::BadUri, "cannot format a PKCS#11 URI");
  }
  std::string out(text);
  std::free(text);  // NOLINT(cppcoreguidelines-no-malloc): p11-kit's allocation
  return out;
}

void setAttribute(P11KitUri* uri, CK_ATTRIBUTE_TYPE type, const void* value, std::size_t length) {
  CK_ATTRIBUTE attribute{type, const_cast<void*>(value), static_cast<CK_ULONG>(length)};
  if (p11_kit_uri_set_attribute(uri, &attribute) != P11_KIT_URI_OK) {
    throw LayerError(LayerError::Kind::BadUri, "cannot build a PKCS#11 URI");
  }
}

}  // namespace

std::string formatTokenUri(const CK_TOKEN_INFO& token) {
  auto uri = newUri();
  std::memcpy(p11_kit_uri_get_token_info(uri.get()), &token, sizeof token);
  return format(uri.get(), P11_KIT_URI_FOR_TOKEN);
}

std::string formatKeyUri(const CK_TOKEN_INFO& token, ByteView id, const std::string& label,
                         CK_OBJECT_CLASS objectClass) {
  auto uri = newUri();
  std::memcpy(p11_kit_uri_get_token_info(uri.get()), &token, sizeof token);
  if (!id.empty()) {
    setAttribute(uri.get(), CKA_ID, id.data(), id.size());
  }
  if (!label.empty()) {
    setAttribute(uri.get(), CKA_LABEL, label.data(), label.size());
  }
  setAttribute(uri.get(), CKA_CLASS, &objectClass, sizeof objectClass);
  return format(uri.get(), P11_KIT_URI_FOR_OBJECT_ON_TOKEN);
}

struct UriFilter::Impl {
  UriPtr uri;
};

UriFilter::UriFilter(const std::string& uri) : impl_(std::make_unique<Impl>()) {
  impl_->uri = newUri();
  const int rc = p11_kit_uri_parse(uri.c_str(), P11_KIT_URI_FOR_ANY, impl_->uri.get());
  if (rc != P11_KIT_URI_OK) {
    throw LayerError(LayerError::Kind::BadUri,
                     std::string("not a valid PKCS#11 URI (") + p11_kit_uri_message(rc) + ")");
  }
}

UriFilter::UriFilter(UriFilter&&) noexcept = default;
UriFilter& UriFilter::operator=(UriFilter&&) noexcept = default;
UriFilter::~UriFilter() = default;

bool UriFilter::matchesModule(const CK_INFO& info) const {
  auto copy = info;
  return p11_kit_uri_match_module_info(impl_->uri.get(), &copy) == 1;
}

bool UriFilter::matchesToken(const CK_TOKEN_INFO& token) const {
  auto copy = token;
  return p11_kit_uri_match_token_info(impl_->uri.get(), &copy) == 1;
}

bool UriFilter::matchesObject(ByteView id, const std::string& label,
                              CK_OBJECT_CLASS objectClass) const {
  auto cls = objectClass;
  std::array attributes{
      CK_ATTRIBUTE{CKA_ID, const_cast<std::uint8_t*>(id.data()), static_cast<CK_ULONG>(id.size())},
      CK_ATTRIBUTE{CKA_LABEL, const_cast<char*>(label.data()), static_cast<CK_ULONG>(label.size())},
      CK_ATTRIBUTE{CKA_CLASS, &cls, sizeof cls},
  };
  return p11_kit_uri_match_attributes(impl_->uri.get(), attributes.data(),
                                      static_cast<CK_ULONG>(attributes.size())) == 1;
}

}  // namespace p2pcp::pkcs11
