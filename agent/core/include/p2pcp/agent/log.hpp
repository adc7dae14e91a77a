// SPDX-License-Identifier: Apache-2.0
#pragma once
// The agent's log: one line per event on stderr (journald picks it up under
// systemd). Never pass a PIN, a secret or a payload here.

#include <string>

namespace p2pcp::agent {

enum class LogLevel { Debug, Info, Warning, Error };

void setLogLevel(LogLevel level) noexcept;
void log(LogLevel level, const std::string& message) noexcept;
inline void logDebug(const std::string& m) noexcept {
  log(LogLevel::Debug, m);
}
inline void logInfo(const std::string& m) noexcept {
  log(LogLevel::Info, m);
}
inline void logWarning(const std::string& m) noexcept {
  log(LogLevel::Warning, m);
}
inline void logError(const std::string& m) noexcept {
  log(LogLevel::Error, m);
}

}  // namespace p2pcp::agent
