// SPDX-License-Identifier: Apache-2.0
// The Assuan pinentry client against the project's scripted pinentry and,
// where installed, the real pinentry-tty on a pseudo-terminal.
#include "p2pcp/pinentry/pinentry.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

namespace p2pcp::pinentry {
namespace {

namespace fs = std::filesystem;

class Scripted : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "p2pcp-pinentry.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ::setenv("P2PCP_TEST_PINENTRY_LOG", (dir_ / "log").c_str(), 1);
    for (const char* name : {"P2PCP_TEST_PIN", "P2PCP_TEST_PIN_CANCEL", "P2PCP_TEST_CONFIRM",
                             "P2PCP_TEST_PINENTRY_DELAY_MS", "P2PCP_TEST_PIN_STATE"}) {
      ::unsetenv(name);
    }
    options_.program = P2PCP_SCRIPTED_PINENTRY;
  }
  void TearDown() override {
    // Every pinentry we started has been reaped.
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
    fs::remove_all(dir_);
  }
  [[nodiscard]] std::vector<nlohmann::json> log() const {
    std::vector<nlohmann::json> lines;
    std::ifstream in(dir_ / "log");
    for (std::string line; std::getline(in, line);) {
      lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
  }
  [[nodiscard]] std::string argumentOf(const std::string& command) const {
    for (const auto& line : log()) {
      if (line["cmd"] == command) {
        return line.value("arg", "");
      }
    }
    return "<not sent>";
  }

  fs::path dir_;
  PinentryOptions options_;
};

TEST_F(Scripted, ReturnsThePinThroughAssuanDataLines) {
  // %, spaces and non-ASCII UTF-8 (no comma: the scripted pinentry splits lists on commas).
  ::setenv("P2PCP_TEST_PIN", "12%34 \xc3\xa9\xe2\x82\xac with spaces", 1);
  PinRequest request;
  request.description = "Enter the PIN of \"Card\"\nRequested by: https://a.example (100% sure)";
  request.error = "FINAL TRY";
  const auto got = askPin(options_, request);
  ASSERT_TRUE(got);
  EXPECT_EQ(std::string(got->begin(), got->end()), "12%34 \xc3\xa9\xe2\x82\xac with spaces");
  EXPECT_EQ(argumentOf("SETDESC"), request.description) << "newlines and % arrive intact";
  EXPECT_EQ(argumentOf("SETERROR"), "FINAL TRY");
  EXPECT_EQ(argumentOf("SETTITLE"), "p2pcp key agent");
  for (const auto& line : log()) {
    EXPECT_EQ(line.dump().find("with spaces"), std::string::npos) << "no PIN in the log";
  }
}

TEST_F(Scripted, CancelIsNotAnError) {
  ::setenv("P2PCP_TEST_PIN_CANCEL", "1", 1);
  EXPECT_FALSE(askPin(options_, {}));
}

TEST_F(Scripted, ConfirmYesAndNo) {
  ::setenv("P2PCP_TEST_CONFIRM", "yes", 1);
  ConfirmRequest request{"Allow https://a.example?", "Allow", "Deny"};
  EXPECT_TRUE(confirm(options_, request));
  EXPECT_EQ(argumentOf("SETOK"), "Allow");
  ::setenv("P2PCP_TEST_CONFIRM", "no", 1);
  EXPECT_FALSE(confirm(options_, request));
}

TEST_F(Scripted, TerminalAndDisplayOptionsArePassedOn) {
  ::setenv("P2PCP_TEST_PIN", "1", 1);
  options_.ttyName = "/dev/pts/42";
  options_.display = ":7";
  (void)askPin(options_, {});
  bool tty = false;
  bool display = false;
  for (const auto& line : log()) {
    tty = tty || line.value("arg", "") == "ttyname=/dev/pts/42";
    display = display || line.value("arg", "") == "display=:7";
  }
  EXPECT_TRUE(tty);
  EXPECT_TRUE(display);
}

TEST_F(Scripted, MissingProgramIsNotFound) {
  options_.program = "/nonexistent/pinentry";
  try {
    (void)askPin(options_, {});
    FAIL();
  } catch (const PinentryError& e) {
    EXPECT_EQ(e.kind(), PinentryError::Kind::NotFound);
  }
  options_.program = "no-such-pinentry-anywhere";
  EXPECT_THROW((void)confirm(options_, {}), PinentryError);
}

TEST_F(Scripted, AProgramThatIsNotAPinentryFails) {
  const fs::path fake = dir_ / "fake-pinentry";
  std::ofstream(fake) << "#!/bin/sh\necho 'hello, I am not Assuan'\n";
  fs::permissions(fake, fs::perms::owner_all);
  options_.program = fake.string();
  try {
    (void)askPin(options_, {});
    FAIL();
  } catch (const PinentryError& e) {
    EXPECT_EQ(e.kind(), PinentryError::Kind::Failed);
  }
}

TEST_F(Scripted, AHangingPinentryIsKilledAfterTheTimeout) {
  ::setenv("P2PCP_TEST_PIN", "1", 1);
  ::setenv("P2PCP_TEST_PINENTRY_DELAY_MS", "60000", 1);
  options_.timeout = std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)askPin(options_, {});
    FAIL();
  } catch (const PinentryError& e) {
    EXPECT_EQ(e.kind(), PinentryError::Kind::Timeout);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

TEST(RealPinentryTty, TypesThePinOnAPseudoTerminal) {
  const char* program = "/usr/bin/pinentry-tty";
  if (::access(program, X_OK) != 0) {
    GTEST_SKIP() << "pinentry-tty is not installed";
  }
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const std::string slave = ::ptsname(master);
  PinentryOptions options;
  options.program = program;
  options.ttyName = slave;
  options.ttyType = "dumb";
  options.timeout = std::chrono::seconds(20);
  PinRequest request;
  request.description = "Enter the PIN of the token \"p2pcp-test\"";
  auto pin = std::async(std::launch::async, [&] { return askPin(options, request); });
  // Wait for the prompt, then type like a person would.
  std::string screen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (screen.find("PIN:") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::array<char, 256> buffer{};
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(master, &fds);
    timeval wait{0, 200000};
    if (::select(master + 1, &fds, nullptr, nullptr, &wait) > 0) {
      const ssize_t n = ::read(master, buffer.data(), buffer.size());
      if (n > 0) {
        screen.append(buffer.data(), static_cast<std::size_t>(n));
      }
    }
  }
  ASSERT_NE(screen.find("PIN:"), std::string::npos) << screen;
  EXPECT_NE(screen.find("p2pcp-test"), std::string::npos) << "the description is shown";
  const std::string typed = "2468\n";
  ASSERT_EQ(::write(master, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  ASSERT_EQ(pin.wait_for(std::chrono::seconds(15)), std::future_status::ready);
  const auto got = pin.get();
  ASSERT_TRUE(got);
  EXPECT_EQ(std::string(got->begin(), got->end()), "2468");
  ::close(master);
}

TEST(Escaping, ControlCharactersAndPercentAreEscaped) {
  EXPECT_EQ(escapeArgument("a%b\nc\rd"), "a%25b%0Ac%0Dd");
  EXPECT_EQ(escapeArgument("plain text"), "plain text");
  EXPECT_LE(escapeArgument(std::string(2000, 'x')).size(), 900U);
}

}  // namespace
}  // namespace p2pcp::pinentry
