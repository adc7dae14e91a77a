// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pkcs11/module.hpp"

#include <p11-kit/p11-kit.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "p2pcp/pkcs11/error.hpp"
#include "p2pcp/pkcs11/text.hpp"

namespace p2pcp::pkcs11 {

namespace {

// p11-kit returns malloc'd strings.
std::string takeString(char* text) {
  if (text == nullptr) {
    return {};
  }
  std::string out(text);
  std::free(text);  // NOLINT(cppcoreguidelines-no-malloc): p11-kit's allocation
  return out;
}

}  // namespace

Module::Module(Private /*unused*/, CK_FUNCTION_LIST* functions, std::string name, std::string path)
    : functions_(functions), name_(std::move(name)), path_(std::move(path)) {}

Module::~Module() {
  // p11-kit counts initialisations, so this never finalizes a module that another
  // part of the process (or another library using p11-kit) still uses.
  p11_kit_module_finalize(functions_);
  p11_kit_module_release(functions_);
}

std::vector<std::shared_ptr<Module>> Module::loadRegistered() {
  CK_FUNCTION_LIST** list = p11_kit_modules_load_and_initialize(0);
  if (list == nullptr) {
    throw LayerError(
        LayerError::Kind::ModuleLoad,
        std::string("p11-kit could not load the registered modules: ") + p11_kit_message());
  }
  std::vector<std::shared_ptr<Module>> modules;
  for (CK_FUNCTION_LIST** entry = list; *entry != nullptr; ++entry) {
    std::string name = takeString(p11_kit_module_get_name(*entry));
    std::string path = takeString(p11_kit_module_get_filename(*entry));
    modules.push_back(
        std::make_shared<Module>(Private{}, *entry, std::move(name), std::move(path)));
  }
  // The array itself is ours; each module is now owned by its Module object.
  std::free(list);  // NOLINT(cppcoreguidelines-no-malloc): p11-kit's allocation
  return modules;
}

std::shared_ptr<Module> Module::loadPath(const std::string& path) {
  std::array<char, PATH_MAX> resolved{};
  if (realpath(path.c_str(), resolved.data()) == nullptr) {
    throw LayerError(LayerError::Kind::ModuleLoad,
                     "PKCS#11 module " + path + ": " + std::strerror(errno));
  }
  CK_FUNCTION_LIST* functions = p11_kit_module_load(resolved.data(), 0);
  if (functions == nullptr) {
    throw LayerError(LayerError::Kind::ModuleLoad, std::string("cannot load PKCS#11 module ") +
                                                       resolved.data() + ": " + p11_kit_message());
  }
  const CK_RV rv = p11_kit_module_initialize(functions);
  if (rv != CKR_OK) {
    p11_kit_module_release(functions);
    throw LayerError(
        LayerError::Kind::ModuleLoad,
        std::string("cannot initialise PKCS#11 module ") + resolved.data() + ": " + ckrName(rv));
  }
  std::string name = takeString(p11_kit_module_get_name(functions));
  return std::make_shared<Module>(Private{}, functions, name.empty() ? resolved.data() : name,
                                  resolved.data());
}

std::string Module::libraryDescription() const {
  CK_INFO info{};
  check(functions_->C_GetInfo(&info), "C_GetInfo");
  return paddedText(info.libraryDescription);
}

std::vector<SlotDescription> Module::slots(bool tokenPresentOnly) const {
  // The two-call idiom; the count can change between the calls when a reader is
  // plugged in, so retry on CKR_BUFFER_TOO_SMALL.
  std::vector<CK_SLOT_ID> ids;
  for (int attempt = 0; attempt < 3; ++attempt) {
    CK_ULONG count = 0;
    check(functions_->C_GetSlotList(tokenPresentOnly ? CK_TRUE : CK_FALSE, nullptr, &count),
          "C_GetSlotList");
    ids.resize(count);
    const CK_RV rv =
        functions_->C_GetSlotList(tokenPresentOnly ? CK_TRUE : CK_FALSE, ids.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) {
      continue;
    }
    check(rv, "C_GetSlotList");
    ids.resize(count);
    break;
  }
  std::vector<SlotDescription> slots;
  for (const CK_SLOT_ID id : ids) {
    CK_SLOT_INFO info{};
    const CK_RV rv = functions_->C_GetSlotInfo(id, &info);
    if (rv == CKR_SLOT_ID_INVALID || rv == CKR_DEVICE_REMOVED) {
      continue;  // a reader unplugged between the two calls
    }
    check(rv, "C_GetSlotInfo");
    SlotDescription slot;
    slot.id = id;
    slot.description = paddedText(info.slotDescription);
    slot.manufacturer = paddedText(info.manufacturerID);
    slot.tokenPresent = (info.flags & CKF_TOKEN_PRESENT) != 0;
    slot.removableDevice = (info.flags & CKF_REMOVABLE_DEVICE) != 0;
    slot.hardwareSlot = (info.flags & CKF_HW_SLOT) != 0;
    slots.push_back(std::move(slot));
  }
  return slots;
}

}  // namespace p2pcp::pkcs11
