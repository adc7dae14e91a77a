// SPDX-License-Identifier: Apache-2.0
#pragma once
// Asking the person through pinentry, over the Assuan protocol, as gpg-agent
// does: the PIN goes from pinentry into a wiped buffer here and on to the
// token, never through the browser and never into a log.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "p2pcp/common/bytes.hpp"

namespace p2pcp::pinentry {

class PinentryError : public std::runtime_error {
 public:
  enum class Kind { NotFound, Failed, Timeout };
  PinentryError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

struct PinentryOptions {
  std::string program = "pinentry";    // a path, or a name looked up in $PATH
  std::optional<std::string> ttyName;  // OPTION ttyname (terminal pinentries)
  std::optional<std::string> ttyType;  // OPTION ttytype
  std::optional<std::string> display;  // OPTION display (graphical pinentries)
  std::chrono::seconds timeout{120};   // SETTIMEOUT, and our own hard limit
  std::string title = "p2pcp key agent";
};

struct PinRequest {
  std::string description;           // SETDESC: which token, which site
  std::string prompt = "PIN:";       // SETPROMPT
  std::optional<std::string> error;  // SETERROR: shown above the field (retry state)
};

struct ConfirmRequest {
  std::string description;
  std::string okLabel = "OK";
  std::string cancelLabel = "Cancel";
};

inline constexpr std::size_t kMaxPinLength = 256;

// The PIN, or nullopt when the person cancels. Throws PinentryError.
std::optional<SecureString> askPin(const PinentryOptions& options, const PinRequest& request);
// True when the person confirms; false when they refuse or cancel. Throws PinentryError.
bool confirm(const PinentryOptions& options, const ConfirmRequest& request);

// Where `program` would be run from, as execvp finds it: the program itself
// when it names a path, else the first executable of that name in $PATH.
// Throws PinentryError(NotFound) when there is none (p2pcp doctor reports it).
std::string locateProgram(const std::string& program);

// Assuan's escaping of a command argument: %, CR, LF and other control characters as %XX.
std::string escapeArgument(std::string_view text);

}  // namespace p2pcp::pinentry
