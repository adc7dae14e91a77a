// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace p2pcp::agent {

namespace {
std::atomic<LogLevel> gLevel{LogLevel::Info};
std::mutex gMutex;

const char* prefix(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::Debug:
      return "<7>debug: ";
    case LogLevel::Info:
      return "<6>";
    case LogLevel::Warning:
      return "<4>warning: ";
    case LogLevel::Error:
      return "<3>error: ";
  }
  return "";
}
}  // namespace

void setLogLevel(LogLevel level) noexcept {
  gLevel = level;
}

void log(LogLevel level, const std::string& message) noexcept {
  if (level < gLevel.load()) {
    return;
  }
  // Strip control characters so a hostile origin or label cannot forge log lines.
  std::string clean;
  clean.reserve(message.size());
  for (const char c : message) {
    clean.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  }
  const std::scoped_lock lock(gMutex);
  // The <N> prefix is the sd-daemon log level; it is only useful under journald.
  const char* p = isatty(STDERR_FILENO) != 0 ? prefix(level) + 3 : prefix(level);
  std::fprintf(stderr, "p2pcp-agent: %s%s\n", p, clean.c_str());
  std::fflush(stderr);
}

}  // namespace p2pcp::agent
