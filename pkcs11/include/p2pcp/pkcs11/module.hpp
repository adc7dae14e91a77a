// SPDX-License-Identifier: Apache-2.0
#pragma once
// A loaded, initialised PKCS#11 module. Modules are found through p11-kit
// (the platform's registered modules) or loaded from an explicit path that
// comes from configuration or policy, never from a request.

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <vector>

namespace p2pcp::pkcs11 {

struct SlotDescription {
  CK_SLOT_ID id = 0;
  std::string description;
  std::string manufacturer;
  bool tokenPresent = false;
  bool removableDevice = false;
  bool hardwareSlot = false;
};

class Module {
 public:
  // Every module p11-kit has registered and could initialise (p11_kit_modules_load_and_initialize).
  static std::vector<std::shared_ptr<Module>> loadRegistered();
  // One module by file path; the path is resolved with realpath() first.
  // Throws LayerError(ModuleLoad) when it cannot be loaded or initialised.
  static std::shared_ptr<Module> loadPath(const std::string& path);

  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = delete;
  Module& operator=(Module&&) = delete;
  ~Module();  // finalizes through p11-kit, which reference-counts initialisation

  [[nodiscard]] CK_FUNCTION_LIST* functions() const noexcept { return functions_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::string libraryDescription() const;

  [[nodiscard]] std::vector<SlotDescription> slots(bool tokenPresentOnly) const;

 private:
  struct Private {};

 public:
  Module(Private /*unused*/, CK_FUNCTION_LIST* functions, std::string name, std::string path);

 private:
  CK_FUNCTION_LIST* functions_;
  std::string name_;
  std::string path_;
};

}  // namespace p2pcp::pkcs11
