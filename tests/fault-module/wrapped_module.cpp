// SPDX-License-Identifier: Apache-2.0
#include "wrapped_module.hpp"

#include <dlfcn.h>

#include <cstring>

namespace p2pcp::testing::fault {

void WrappedModule::Unload::operator()(void* handle) const noexcept {
  ::dlclose(handle);
}

WrappedModule::WrappedModule(std::string path) : path_(std::move(path)) {
  // RTLD_LOCAL: the real module's C_* symbols must not shadow ours for anyone
  // who looks them up after us.
  handle_.reset(::dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!handle_) {
    const char* why = ::dlerror();
    error_ = "cannot load " + path_ + ": " + (why != nullptr ? why : "unknown error");
    return;
  }
  CK_C_GetFunctionList getFunctionList = nullptr;
  // POSIX: dlsym's void* is converted to a function pointer this way.
  void* symbol = ::dlsym(handle_.get(), "C_GetFunctionList");
  static_assert(sizeof symbol == sizeof getFunctionList);
  std::memcpy(&getFunctionList, &symbol, sizeof symbol);
  if (getFunctionList == nullptr) {
    error_ = path_ + " has no C_GetFunctionList";
    return;
  }
  const CK_RV rv = getFunctionList(&functions_);
  if (rv != CKR_OK || functions_ == nullptr) {
    functions_ = nullptr;
    error_ = path_ + ": C_GetFunctionList failed";
  }
}

}  // namespace p2pcp::testing::fault
