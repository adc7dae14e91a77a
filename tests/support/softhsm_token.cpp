// SPDX-License-Identifier: Apache-2.0
#include "softhsm_token.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace p2pcp::testing {

namespace fs = std::filesystem;

std::optional<std::string> SoftHsmToken::missingPrerequisite() {
  if (!fs::exists(kSoftHsmModule) ||
      std::system("command -v softhsm2-util >/dev/null") != 0) {  // NOLINT
    return "SoftHSM2 is not installed";
  }
  return std::nullopt;
}

SoftHsmToken::SoftHsmToken(const std::string& label, const std::string& pin)
    : label_(label), pin_(pin) {
  std::string pattern = (fs::temp_directory_path() / "p2pcp-softhsm.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  home_ = pattern;
  fs::create_directories(home_ / "tokens");
  std::ofstream(config()) << "directories.tokendir = " << (home_ / "tokens").string()
                          << "\nobjectstore.backend = file\nlog.level = ERROR\n";
  ::setenv("SOFTHSM2_CONF", config().c_str(), 1);
  // Labels and PINs here are fixed test strings without shell metacharacters.
  const std::string command = "softhsm2-util --init-token --free --label '" + label + "' --pin '" +
                              pin + "' --so-pin 5678 >/dev/null";
  if (std::system(command.c_str()) != 0) {  // NOLINT(cert-env33-c)
    throw std::runtime_error("softhsm2-util --init-token failed");
  }
}

SoftHsmToken::~SoftHsmToken() {
  std::error_code ignored;
  fs::remove_all(home_, ignored);
}

}  // namespace p2pcp::testing
