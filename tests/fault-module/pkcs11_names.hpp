// SPDX-License-Identifier: Apache-2.0
#pragma once
// Names of PKCS#11 return codes and token flags, both ways, for the rules file
// and the call log. Self-contained: the fault module links nothing of the
// project, so it can be loaded into any process (the agent, a helper).

#include <p11-kit/pkcs11.h>

#include <optional>
#include <string>
#include <string_view>

namespace p2pcp::testing::fault {

// "CKR_PIN_INCORRECT" for CKR_PIN_INCORRECT; "CKR_0x..." for codes without a name.
std::string returnCodeName(CK_RV rv);
// The code named "CKR_..." (every code of PKCS#11 2.40), or nullopt.
std::optional<CK_RV> returnCodeNamed(std::string_view name);
// The CK_TOKEN_INFO flag named "CKF_..." (e.g. CKF_USER_PIN_LOCKED), or nullopt.
std::optional<CK_FLAGS> tokenFlagNamed(std::string_view name);

}  // namespace p2pcp::testing::fault
