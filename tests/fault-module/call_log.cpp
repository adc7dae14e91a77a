// SPDX-License-Identifier: Apache-2.0
#include "call_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "pkcs11_names.hpp"

namespace p2pcp::testing::fault {

namespace {

nlohmann::json lineFor(Call call, std::optional<std::size_t> rule) {
  nlohmann::json line = {{"pid", ::getpid()}, {"call", infoOf(call).name}};
  if (rule) {
    line["rule"] = *rule;
  }
  return line;
}

}  // namespace

CallLog::CallLog(std::optional<std::filesystem::path> file) : file_(std::move(file)) {}

void CallLog::returned(Call call, CK_RV rv, std::optional<std::size_t> rule,
                       bool brokenRules) noexcept {
  if (!file_) {
    return;
  }
  try {
    auto line = lineFor(call, rule);
    line["rv"] = returnCodeName(rv);
    if (brokenRules) {
      line["brokenRules"] = true;
    }
    append(line.dump() + "\n");
  } catch (const std::exception&) {
    // Out of memory while logging: the call itself still returns its code.
  }
}

void CallLog::stopping(Call call, std::optional<std::size_t> rule, const char* how) noexcept {
  if (!file_) {
    return;
  }
  try {
    auto line = lineFor(call, rule);
    line[how] = true;
    append(line.dump() + "\n");
  } catch (const std::exception&) {
  }
}

void CallLog::append(const std::string& line) noexcept {
  const std::lock_guard lock(mutex_);
  // Opened per line so a test may delete or rotate the log at any time; one
  // write() of a whole line with O_APPEND keeps lines from several processes whole.
  const int fd = ::open(file_->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return;
  }
  for (std::size_t written = 0; written < line.size();) {
    const ssize_t n = ::write(fd, line.data() + written, line.size() - written);
    if (n <= 0) {
      break;  // a full disk loses log lines, never the call's result
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace p2pcp::testing::fault
