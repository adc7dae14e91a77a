// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/pinentry/pinentry.hpp"

#include <assuan.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

namespace p2pcp::pinentry {

namespace {

struct ContextDeleter {
  void operator()(assuan_context_s* ctx) const noexcept { assuan_release(ctx); }
};
using Context = std::unique_ptr<assuan_context_s, ContextDeleter>;

bool isCancel(gpg_error_t rc) {
  const auto code = gpg_err_code(rc);
  return code == GPG_ERR_CANCELED || code == GPG_ERR_NOT_CONFIRMED || code == GPG_ERR_ASS_CANCELED;
}

}  // namespace

// Resolves the program like execvp would, so a missing pinentry is reported as such
// instead of as a broken conversation.
std::string locateProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), X_OK) != 0) {
      throw PinentryError(PinentryError::Kind::NotFound, "pinentry program not found: " + program);
    }
    return program;
  }
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): read-only use
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    start = end + 1;
  }
  throw PinentryError(PinentryError::Kind::NotFound,
                      "pinentry program not found in PATH: " + program);
}

namespace {

// Kills the pinentry when the person does not answer in time: a stuck dialog must
// not hold the agent's prompt lock forever.
class Watchdog {
 public:
  Watchdog(pid_t pid, std::chrono::seconds limit)
      : thread_([this, pid, limit] {
          std::unique_lock lock(mutex_);
          if (!done_.wait_for(lock, limit, [this] { return finished_; })) {
            fired_ = true;
            if (pid > 0) {
              ::kill(pid, SIGKILL);
            }
          }
        }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  Watchdog(Watchdog&&) = delete;
  Watchdog& operator=(Watchdog&&) = delete;
  ~Watchdog() {
    {
      const std::scoped_lock lock(mutex_);
      finished_ = true;
    }
    done_.notify_all();
    thread_.join();
  }
  [[nodiscard]] bool fired() const {
    const std::scoped_lock lock(mutex_);
    return fired_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  bool fired_ = false;
  std::thread thread_;
};

class Conversation {
 public:
  explicit Conversation(const PinentryOptions& options) {
    const std::string program = locateProgram(options.program);
    assuan_context_t raw = nullptr;
    if (assuan_new(&raw) != 0) {
      throw PinentryError(PinentryError::Kind::Failed, "cannot create an Assuan context");
    }
    ctx_.reset(raw);
    const char* argv[] = {program.c_str(), nullptr};
    assuan_fd_t keep[] = {ASSUAN_INVALID_FD};
    const gpg_error_t rc =
        assuan_pipe_connect(ctx_.get(), program.c_str(), argv, keep, nullptr, nullptr, 0);
    if (rc != 0) {
      throw PinentryError(PinentryError::Kind::Failed,
                          "cannot talk to " + program + ": " + gpg_strerror(rc));
    }
    watchdog_ = std::make_unique<Watchdog>(assuan_get_pid(ctx_.get()),
                                           options.timeout + std::chrono::seconds(2));
    if (options.ttyName) {
      command("OPTION ttyname=" + escapeArgument(*options.ttyName), true);
    }
    if (options.ttyType) {
      command("OPTION ttytype=" + escapeArgument(*options.ttyType), true);
    }
    if (options.display) {
      command("OPTION display=" + escapeArgument(*options.display), true);
    }
    command("SETTITLE " + escapeArgument(options.title));
    command("SETTIMEOUT " + std::to_string(options.timeout.count()), true);
  }

  // Runs one command. Returns the Assuan error code (0 on success).
  gpg_error_t command(const std::string& line, bool optional = false,
                      gpg_error_t (*dataCallback)(void*, const void*, std::size_t) = nullptr,
                      void* dataArgument = nullptr) {
    const gpg_error_t rc = assuan_transact(ctx_.get(), line.c_str(), dataCallback, dataArgument,
                                           nullptr, nullptr, nullptr, nullptr);
    if (rc != 0 && !optional && !isCancel(rc)) {
      fail(line.substr(0, line.find(' ')), rc);
    }
    return rc;
  }

  [[noreturn]] void fail(const std::string& what, gpg_error_t rc) const {
    if (watchdog_ && watchdog_->fired()) {
      throw PinentryError(PinentryError::Kind::Timeout, "the person did not answer in time");
    }
    throw PinentryError(PinentryError::Kind::Failed,
                        "pinentry " + what + " failed: " + gpg_strerror(rc));
  }

  [[nodiscard]] assuan_context_t get() const { return ctx_.get(); }

 private:
  Context ctx_;  // released first: closes the pipes, libassuan reaps the child
  std::unique_ptr<Watchdog> watchdog_;
};

struct PinSink {
  SecureString pin;
  bool tooLong = false;
};

gpg_error_t receivePin(void* argument, const void* data, std::size_t length) {
  auto* sink = static_cast<PinSink*>(argument);
  if (sink->pin.size() + length > kMaxPinLength) {
    sink->tooLong = true;
    return gpg_error(GPG_ERR_TOO_LARGE);
  }
  sink->pin.append(static_cast<const char*>(data), length);
  return 0;
}

}  // namespace

std::string escapeArgument(std::string_view text) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || c == '%' || byte == 0x7F) {
      out.push_back('%');
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0x0FU]);
    } else {
      out.push_back(c);
    }
  }
  // Assuan lines are limited to 1000 bytes; keep descriptions well inside that.
  if (out.size() > 900) {
    out.resize(900);
    while (!out.empty() && out.back() == '%') {
      out.pop_back();
    }
  }
  return out;
}

std::optional<SecureString> askPin(const PinentryOptions& options, const PinRequest& request) {
  Conversation conversation(options);
  conversation.command("SETDESC " + escapeArgument(request.description));
  conversation.command("SETPROMPT " + escapeArgument(request.prompt));
  if (request.error) {
    conversation.command("SETERROR " + escapeArgument(*request.error));
  }
  PinSink sink;
  // Confidential: libassuan must not log the D line that carries the PIN.
  assuan_begin_confidential(conversation.get());
  const gpg_error_t rc = conversation.command("GETPIN", true, &receivePin, &sink);
  assuan_end_confidential(conversation.get());
  if (sink.tooLong) {
    throw PinentryError(PinentryError::Kind::Failed, "the PIN is longer than 256 bytes");
  }
  if (isCancel(rc)) {
    return std::nullopt;
  }
  if (rc != 0) {
    conversation.fail("GETPIN", rc);
  }
  return std::move(sink.pin);
}

bool confirm(const PinentryOptions& options, const ConfirmRequest& request) {
  Conversation conversation(options);
  conversation.command("SETDESC " + escapeArgument(request.description));
  conversation.command("SETOK " + escapeArgument(request.okLabel), true);
  conversation.command("SETCANCEL " + escapeArgument(request.cancelLabel), true);
  const gpg_error_t rc = conversation.command("CONFIRM", true);
  if (rc == 0) {
    return true;
  }
  if (isCancel(rc)) {
    return false;
  }
  conversation.fail("CONFIRM", rc);
}

}  // namespace p2pcp::pinentry
