// SPDX-License-Identifier: Apache-2.0
#pragma once
// The real PKCS#11 module the fault module stands in front of, loaded with
// dlopen and unloaded when the fault module itself is unloaded.

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>

namespace p2pcp::testing::fault {

class WrappedModule {
 public:
  // A module that cannot be loaded leaves functions() null and error() saying
  // why, so every call can fail with a clear message.
  explicit WrappedModule(std::string path);

  [[nodiscard]] const CK_FUNCTION_LIST* functions() const noexcept { return functions_; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  struct Unload {
    void operator()(void* handle) const noexcept;
  };

  std::string path_;
  std::unique_ptr<void, Unload> handle_;
  CK_FUNCTION_LIST* functions_ = nullptr;
  std::string error_;
};

}  // namespace p2pcp::testing::fault
