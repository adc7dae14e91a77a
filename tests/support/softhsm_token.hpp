// SPDX-License-Identifier: Apache-2.0
#pragma once
// A fresh SoftHSM2 token directory for one test: its own softhsm2.conf (set as
// SOFTHSM2_CONF for this process), one initialised token, removed afterwards.

#include <filesystem>
#include <optional>
#include <string>

namespace p2pcp::testing {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

class SoftHsmToken {
 public:
  // The reason the tests cannot run here, or nullopt.
  static std::optional<std::string> missingPrerequisite();

  explicit SoftHsmToken(const std::string& label = "p2pcp-test",
                        const std::string& pin = "4321-test-pin");
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;
  ~SoftHsmToken();

  [[nodiscard]] const std::filesystem::path& home() const noexcept { return home_; }
  [[nodiscard]] std::filesystem::path config() const { return home_ / "softhsm2.conf"; }
  [[nodiscard]] const std::string& label() const noexcept { return label_; }
  [[nodiscard]] const std::string& pin() const noexcept { return pin_; }

 private:
  std::filesystem::path home_;
  std::string label_;
  std::string pin_;
};

}  // namespace p2pcp::testing
