// SPDX-License-Identifier: Apache-2.0
#pragma once
// The real p2pcp-native-host process between pipes, as a browser runs it:
// native-endian frames in on its stdin, out on its stdout.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent_harness.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::testing {

class NativeHostProcess {
 public:
  NativeHostProcess(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env,
                    const std::string& program = P2PCP_NATIVE_HOST) {
    int toHost[2];
    int fromHost[2];
    if (::pipe2(toHost, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    if (::pipe2(fromHost, O_CLOEXEC) != 0) {
      ::close(toHost[0]);
      ::close(toHost[1]);
      throw std::runtime_error("pipe failed");
    }
    std::vector<std::string> envStrings = environmentWith(env);
    std::vector<char*> envp;
    envp.reserve(envStrings.size() + 1);
    for (auto& s : envStrings) {
      envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> argv{program};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> argp;
    argp.reserve(argv.size() + 1);
    for (auto& a : argv) {
      argp.push_back(a.data());
    }
    argp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, toHost[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fromHost[1], STDOUT_FILENO);
    const int rc = ::posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(toHost[0]);
    ::close(fromHost[1]);
    in_ = toHost[1];
    out_ = fromHost[0];
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start the host");
    }
  }
  NativeHostProcess(const NativeHostProcess&) = delete;
  NativeHostProcess& operator=(const NativeHostProcess&) = delete;
  NativeHostProcess(NativeHostProcess&&) = delete;
  NativeHostProcess& operator=(NativeHostProcess&&) = delete;
  ~NativeHostProcess() {
    closeInput();
    ::close(out_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  void sendRaw(const std::string& bytes) const { writeFully(in_, bytes.data(), bytes.size()); }
  void send(const nlohmann::json& message) const {
    sendRaw(makeFrame(message.dump(), LengthOrder::Native, std::size_t{1} << 30U));
  }
  // The next frame, or nullopt at end of stream; fails the test after 20 s.
  [[nodiscard]] std::optional<nlohmann::json> receive() const {
    pollfd fd{out_, POLLIN, 0};
    if (::poll(&fd, 1, 20000) <= 0) {
      ADD_FAILURE() << "the host did not answer";
      return std::nullopt;
    }
    const auto text = readFrame(out_, LengthOrder::Native, std::size_t{1} << 30U);
    if (!text) {
      return std::nullopt;
    }
    EXPECT_LE(text->size(), 1024U * 1024U) << "a frame over the browser's 1 MiB limit";
    return nlohmann::json::parse(*text);
  }
  void closeInput() {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
  }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
};

}  // namespace p2pcp::testing
