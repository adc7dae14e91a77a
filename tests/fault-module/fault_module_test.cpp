// SPDX-License-Identifier: Apache-2.0
// The fault module on its own, loaded into this process over a fresh SoftHSM2
// token: calls and return codes pass through unchanged, and each rule does
// what fault_rules.hpp says, also while the rules change and from several threads.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <p11-kit/pkcs11.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>

#include "fault_control.hpp"
#include "fault_rules.hpp"
#include "softhsm_token.hpp"

namespace p2pcp::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The module's state is per process and read on first use, so one token,
// one control directory and one loaded module serve every test of this
// suite in a process; each test starts with no rules, an empty log and no
// open sessions.
class FaultModuleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (SoftHsmToken::missingPrerequisite()) {
      return;
    }
    token_ = std::make_unique<SoftHsmToken>();
    control_ = std::make_unique<FaultControl>();
    for (const auto& [name, value] : control_->environment()) {
      ::setenv(name.c_str(), value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe): before any thread
    }
    library_ = ::dlopen(FaultControl::modulePath().c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library_, nullptr) << ::dlerror();
    CK_C_GetFunctionList getFunctionList = nullptr;
    void* symbol = ::dlsym(library_, "C_GetFunctionList");
    ASSERT_NE(symbol, nullptr);
    std::memcpy(&getFunctionList, &symbol, sizeof symbol);
    ASSERT_EQ(getFunctionList(&fn_), CKR_OK);
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    ASSERT_EQ(fn_->C_Initialize(&args), CKR_OK);
  }

  static void TearDownTestSuite() {
    if (fn_ != nullptr) {
      EXPECT_EQ(fn_->C_Finalize(nullptr), CKR_OK);
      fn_ = nullptr;
    }
    if (library_ != nullptr) {
      ::dlclose(library_);
      library_ = nullptr;
    }
    control_.reset();
    token_.reset();
  }

  void SetUp() override {
    if (auto missing = SoftHsmToken::missingPrerequisite()) {
      GTEST_SKIP() << *missing;
    }
    ASSERT_NE(fn_, nullptr);
    control().clearRules();
    control().clearLog();
  }

  void TearDown() override {
    if (fn_ != nullptr) {
      control().clearRules();
      (void)fn_->C_CloseAllSessions(slot());  // and so logged out
    }
  }

  static FaultControl& control() { return *control_; }
  static CK_FUNCTION_LIST* fn() { return fn_; }

  // The slot of the initialised test token.
  static CK_SLOT_ID slot() {
    std::array<CK_SLOT_ID, 8> slots{};
    CK_ULONG count = slots.size();
    EXPECT_EQ(fn_->C_GetSlotList(CK_TRUE, slots.data(), &count), CKR_OK);
    for (CK_ULONG i = 0; i < count; ++i) {
      CK_TOKEN_INFO info{};
      if (fn_->C_GetTokenInfo(slots.at(i), &info) == CKR_OK &&
          (info.flags & CKF_TOKEN_INITIALIZED) != 0) {
        return slots.at(i);
      }
    }
    ADD_FAILURE() << "no initialised token";
    return 0;
  }

  static CK_SESSION_HANDLE openSession(CK_SLOT_ID slot) {
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    EXPECT_EQ(fn_->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session), CKR_OK);
    return session;
  }

  static CK_RV login(CK_SESSION_HANDLE session, std::string pin) {
    return fn_->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()),
                        static_cast<CK_ULONG>(pin.size()));
  }

  static CK_RV random(CK_SESSION_HANDLE session) {
    std::array<CK_BYTE, 16> bytes{};
    return fn_->C_GenerateRandom(session, bytes.data(), bytes.size());
  }

  static CK_FLAGS tokenFlags(CK_SLOT_ID slot) {
    CK_TOKEN_INFO info{};
    EXPECT_EQ(fn_->C_GetTokenInfo(slot, &info), CKR_OK);
    return info.flags;
  }

  static CK_STATE sessionState(CK_SESSION_HANDLE session) {
    CK_SESSION_INFO info{};
    EXPECT_EQ(fn_->C_GetSessionInfo(session, &info), CKR_OK);
    return info.state;
  }

  static std::string logText() {
    std::ifstream in(control().logFile());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  static inline std::unique_ptr<SoftHsmToken> token_;
  static inline std::unique_ptr<FaultControl> control_;
  static inline void* library_ = nullptr;
  static inline CK_FUNCTION_LIST* fn_ = nullptr;
};

TEST_F(FaultModuleTest, ForwardsCallsAndTheirReturnCodesUnchanged) {
  CK_INFO info{};
  ASSERT_EQ(fn()->C_GetInfo(&info), CKR_OK);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(info.manufacturerID), 7), "SoftHSM");
  const CK_SLOT_ID s = slot();
  CK_TOKEN_INFO token{};
  ASSERT_EQ(fn()->C_GetTokenInfo(s, &token), CKR_OK);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(token.label), 10), "p2pcp-test");

  const CK_SESSION_HANDLE session = openSession(s);
  EXPECT_EQ(login(session, "0000-wrong"), CKR_PIN_INCORRECT) << "SoftHSM2's own answer";
  EXPECT_EQ(login(session, "4321-test-pin"), CKR_OK);
  EXPECT_EQ(login(session, "4321-test-pin"), CKR_USER_ALREADY_LOGGED_IN);
  EXPECT_EQ(sessionState(session), CKS_RO_USER_FUNCTIONS);
  CK_SESSION_HANDLE none = CK_INVALID_HANDLE;
  EXPECT_EQ(fn()->C_OpenSession(999999, CKF_SERIAL_SESSION, nullptr, nullptr, &none),
            CKR_SLOT_ID_INVALID);

  EXPECT_EQ(control().count("C_Login"), 3);
  EXPECT_EQ(control().count("C_Login", "CKR_PIN_INCORRECT"), 1);
  EXPECT_EQ(control().count("C_Login", "CKR_USER_ALREADY_LOGGED_IN"), 1);
  EXPECT_EQ(control().count("C_OpenSession", "CKR_SLOT_ID_INVALID"), 1);
  for (const auto& line : control().calls()) {
    EXPECT_EQ(line.value("pid", 0), ::getpid());
    EXPECT_FALSE(line.contains("rule")) << "no rule fired: " << line.dump();
    EXPECT_EQ(line.size(), 3U) << "pid, call and rv only: " << line.dump();
  }
  const std::string log = logText();
  EXPECT_EQ(log.find("4321"), std::string::npos) << "the log holds no PIN";
  EXPECT_EQ(log.find("0000"), std::string::npos) << "the log holds no PIN";
}

TEST_F(FaultModuleTest, ARuleFailsTheChosenCallsWithoutReachingTheToken) {
  const CK_SESSION_HANDLE session = openSession(slot());
  control().setRules(
      {{{"call", "C_GenerateRandom"}, {"rv", "CKR_DEVICE_ERROR"}, {"skip", 1}, {"times", 2}},
       {{"call", "C_GetInfo"}, {"rv", 0x80000123UL}}});
  EXPECT_EQ(random(session), CKR_OK) << "skipped";
  EXPECT_EQ(random(session), CKR_DEVICE_ERROR);
  EXPECT_EQ(random(session), CKR_DEVICE_ERROR);
  EXPECT_EQ(random(session), CKR_OK) << "spent after two";
  EXPECT_EQ(random(session), CKR_OK);
  CK_INFO info{};
  EXPECT_EQ(fn()->C_GetInfo(&info), 0x80000123UL) << "a vendor code by number";
  int fired = 0;
  for (const auto& line : control().calls()) {
    if (line.value("call", "") == "C_GenerateRandom" && line.contains("rule")) {
      EXPECT_EQ(line["rule"], 1);
      EXPECT_EQ(line["rv"], "CKR_DEVICE_ERROR");
      ++fired;
    }
  }
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(control().count("C_GetInfo", "CKR_0x80000123"), 1);
}

TEST_F(FaultModuleTest, AMadeUpFailureEndsTheOperationAsARealOneWould) {
  const CK_SESSION_HANDLE session = openSession(slot());
  CK_MECHANISM sha256{CKM_SHA256, nullptr, 0};
  std::array<CK_BYTE, 5> data{'b', 'l', 'o', 'c', 'k'};
  std::array<CK_BYTE, 32> digest{};
  CK_ULONG length = digest.size();
  control().setRule({{"call", "C_Digest"}, {"rv", "CKR_DEVICE_ERROR"}, {"times", 1}});
  ASSERT_EQ(fn()->C_DigestInit(session, &sha256), CKR_OK);
  EXPECT_EQ(fn()->C_Digest(session, data.data(), data.size(), digest.data(), &length),
            CKR_DEVICE_ERROR);
  EXPECT_EQ(fn()->C_DigestInit(session, &sha256), CKR_OK) << "not CKR_OPERATION_ACTIVE";
  length = digest.size();
  EXPECT_EQ(fn()->C_Digest(session, data.data(), data.size(), digest.data(), &length), CKR_OK);
  EXPECT_EQ(length, 32U);

  control().setRule({{"call", "C_DigestUpdate"}, {"rv", "CKR_GENERAL_ERROR"}, {"times", 1}});
  ASSERT_EQ(fn()->C_DigestInit(session, &sha256), CKR_OK);
  EXPECT_EQ(fn()->C_DigestUpdate(session, data.data(), data.size()), CKR_GENERAL_ERROR);
  EXPECT_EQ(fn()->C_DigestInit(session, &sha256), CKR_OK) << "not CKR_OPERATION_ACTIVE";
  EXPECT_EQ(fn()->C_DigestUpdate(session, data.data(), data.size()), CKR_OK);
  length = digest.size();
  EXPECT_EQ(fn()->C_DigestFinal(session, digest.data(), &length), CKR_OK);
}

TEST_F(FaultModuleTest, AFailedLoginLeavesTheTokenLoggedOutAndSetsThePinFlags) {
  const CK_SLOT_ID s = slot();
  const CK_SESSION_HANDLE session = openSession(s);
  EXPECT_EQ(tokenFlags(s) & CKF_USER_PIN_COUNT_LOW, 0U);
  control().setRule({{"call", "C_Login"},
                     {"rv", "CKR_PIN_INCORRECT"},
                     {"times", 1},
                     {"flags", {"CKF_USER_PIN_COUNT_LOW"}}});
  EXPECT_EQ(tokenFlags(s) & CKF_USER_PIN_COUNT_LOW, 0U) << "the flags come with the rule's firing";
  EXPECT_EQ(login(session, "4321-test-pin"), CKR_PIN_INCORRECT);
  EXPECT_EQ(sessionState(session), CKS_RO_PUBLIC_SESSION) << "the real C_Login never ran";
  EXPECT_NE(tokenFlags(s) & CKF_USER_PIN_COUNT_LOW, 0U) << "and stay after it is spent";
  EXPECT_NE(tokenFlags(s) & CKF_TOKEN_INITIALIZED, 0U) << "the real flags are kept";
  EXPECT_EQ(login(session, "4321-test-pin"), CKR_OK);
  EXPECT_EQ(sessionState(session), CKS_RO_USER_FUNCTIONS);
  control().clearRules();
  EXPECT_EQ(tokenFlags(s) & CKF_USER_PIN_COUNT_LOW, 0U) << "a new rules file starts over";
}

TEST_F(FaultModuleTest, TokenFlagsForThePinStatesSoftHsmNeverReaches) {
  const CK_SLOT_ID s = slot();
  for (const char* flag :
       {"CKF_USER_PIN_COUNT_LOW", "CKF_USER_PIN_FINAL_TRY", "CKF_USER_PIN_LOCKED"}) {
    control().setRule({{"call", "C_GetTokenInfo"}, {"flags", {flag}}});
    const CK_FLAGS flags = tokenFlags(s);
    EXPECT_NE(flags & CKF_USER_PIN_INITIALIZED, 0U);
    const CK_FLAGS pinFlags =
        flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
    EXPECT_EQ(pinFlags, std::string(flag) == "CKF_USER_PIN_COUNT_LOW"   ? CKF_USER_PIN_COUNT_LOW
                        : std::string(flag) == "CKF_USER_PIN_FINAL_TRY" ? CKF_USER_PIN_FINAL_TRY
                                                                        : CKF_USER_PIN_LOCKED)
        << flag;
  }
}

TEST_F(FaultModuleTest, ARemovedTokenComesBackLoggedOutWithItsOldSessionsInvalid) {
  const CK_SLOT_ID s = slot();
  const CK_SESSION_HANDLE session = openSession(s);
  ASSERT_EQ(login(session, "4321-test-pin"), CKR_OK);
  control().setRule({{"call", "C_GetSlotList"}, {"tokenPresent", false}});
  EXPECT_EQ(random(session), CKR_OK) << "nothing happens before the rule's call";

  CK_ULONG count = 8;
  std::array<CK_SLOT_ID, 8> slots{};
  EXPECT_EQ(fn()->C_GetSlotList(CK_TRUE, slots.data(), &count), CKR_OK);
  EXPECT_EQ(count, 0U) << "no slot holds a token";
  count = slots.size();
  EXPECT_EQ(fn()->C_GetSlotList(CK_FALSE, slots.data(), &count), CKR_OK);
  EXPECT_GE(count, 1U) << "the readers are still there";
  CK_SLOT_INFO slotInfo{};
  EXPECT_EQ(fn()->C_GetSlotInfo(s, &slotInfo), CKR_OK);
  EXPECT_EQ(slotInfo.flags & CKF_TOKEN_PRESENT, 0U);
  CK_TOKEN_INFO tokenInfo{};
  EXPECT_EQ(fn()->C_GetTokenInfo(s, &tokenInfo), CKR_TOKEN_NOT_PRESENT);
  CK_SESSION_HANDLE another = CK_INVALID_HANDLE;
  EXPECT_EQ(fn()->C_OpenSession(s, CKF_SERIAL_SESSION, nullptr, nullptr, &another),
            CKR_TOKEN_NOT_PRESENT);
  EXPECT_EQ(random(session), CKR_DEVICE_REMOVED);

  control().clearRules();  // put back
  EXPECT_EQ(slot(), s);
  CK_SESSION_INFO info{};
  EXPECT_EQ(fn()->C_GetSessionInfo(session, &info), CKR_SESSION_HANDLE_INVALID)
      << "as after a real re-insertion";
  const CK_SESSION_HANDLE fresh = openSession(s);
  EXPECT_EQ(sessionState(fresh), CKS_RO_PUBLIC_SESSION) << "logged out";
}

TEST_F(FaultModuleTest, AResetClosesTheSessionsUnderTheCall) {
  const CK_SLOT_ID s = slot();
  const CK_SESSION_HANDLE session = openSession(s);
  ASSERT_EQ(login(session, "4321-test-pin"), CKR_OK);
  control().setRule({{"call", "C_GenerateRandom"}, {"reset", true}, {"times", 1}});
  EXPECT_EQ(random(session), CKR_SESSION_HANDLE_INVALID) << "SoftHSM2's answer after the reset";
  EXPECT_EQ(control().count("C_GenerateRandom", "CKR_SESSION_HANDLE_INVALID"), 1);
  const CK_SESSION_HANDLE fresh = openSession(s);
  EXPECT_EQ(sessionState(fresh), CKS_RO_PUBLIC_SESSION);
  EXPECT_EQ(random(fresh), CKR_OK);
}

TEST_F(FaultModuleTest, ADelayHoldsOnlyTheCallItMatches) {
  const CK_SESSION_HANDLE session = openSession(slot());
  control().setRule({{"call", "C_GenerateRandom"}, {"delayMs", 400}, {"times", 1}});
  const auto start = Clock::now();
  std::thread slow([&] { EXPECT_EQ(random(session), CKR_OK); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CK_INFO info{};
  EXPECT_EQ(fn()->C_GetInfo(&info), CKR_OK);
  const auto otherDone = Clock::now() - start;
  slow.join();
  const auto slowDone = Clock::now() - start;
  EXPECT_GE(slowDone, std::chrono::milliseconds(400));
  EXPECT_LT(otherDone, std::chrono::milliseconds(300)) << "the module serialises nothing";
}

TEST_F(FaultModuleTest, ThreadsShareTheRuleCounters) {
  const CK_SLOT_ID s = slot();
  control().setRule({{"call", "C_GetTokenInfo"}, {"rv", "CKR_DEVICE_ERROR"}, {"times", 30}});
  control().clearLog();
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        CK_TOKEN_INFO info{};
        if (fn()->C_GetTokenInfo(s, &info) == CKR_DEVICE_ERROR) {
          ++failed;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failed.load(), 30);
  EXPECT_EQ(control().count("C_GetTokenInfo"), 200) << "one whole log line per call";
  EXPECT_EQ(control().count("C_GetTokenInfo", "CKR_DEVICE_ERROR"), 30);
}

TEST_F(FaultModuleTest, ABrokenRulesFileFailsEveryCallUntilItIsFixed) {
  CK_INFO info{};
  control().setRulesText(R"({"call": "C_Sing", "rv": "CKR_DEVICE_ERROR"})"
                         "\n");
  EXPECT_EQ(fn()->C_GetInfo(&info), CKR_GENERAL_ERROR);
  const auto lines = control().calls();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().value("brokenRules", false), true);
  control().setRule({{"call", "C_Sign"}, {"rv", "CKR_DEVICE_ERROR"}});
  EXPECT_EQ(fn()->C_GetInfo(&info), CKR_OK);
  std::filesystem::remove(control().rulesFile());
  EXPECT_EQ(fn()->C_GetInfo(&info), CKR_OK) << "no file: no rules";
}

// A child process of this one, which has the module loaded, runs `call`;
// returns its wait status, or nullopt when it was still running after `wait`
// (then it is killed).
std::optional<int> inChild(const std::function<void()>& call, std::chrono::milliseconds wait) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    call();
    ::_exit(0);
  }
  const auto deadline = Clock::now() + wait;
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

TEST_F(FaultModuleTest, AbortAndHangStopTheCallingProcess) {
  control().setRule({{"call", "C_GetInfo"}, {"abort", true}});
  const auto aborted = inChild(
      [] {
        CK_INFO info{};
        (void)fn()->C_GetInfo(&info);
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(aborted.has_value());
  EXPECT_TRUE(WIFSIGNALED(*aborted) && WTERMSIG(*aborted) == SIGABRT);

  control().setRule({{"call", "C_GetInfo"}, {"hang", true}});
  const auto hung = inChild(
      [] {
        CK_INFO info{};
        (void)fn()->C_GetInfo(&info);
      },
      std::chrono::milliseconds(500));
  EXPECT_FALSE(hung.has_value()) << "still inside C_GetInfo after 500 ms";
  int abortLines = 0;
  int hangLines = 0;
  for (const auto& line : control().calls()) {
    abortLines += line.value("abort", false) ? 1 : 0;
    hangLines += line.value("hang", false) ? 1 : 0;
    EXPECT_NE(line.value("pid", 0), ::getpid()) << "only the children called";
  }
  EXPECT_EQ(abortLines, 1);
  EXPECT_EQ(hangLines, 1);
}

TEST(FaultRules, EveryFormOfTheFileParses) {
  using fault::parseRules;
  EXPECT_TRUE(parseRules("").empty());
  EXPECT_TRUE(parseRules(" \n\n").empty());
  const auto lines = parseRules(
      "{\"call\": \"C_Sign\", \"rv\": \"CKR_DEVICE_REMOVED\", \"times\": 1}\n\n"
      "{\"call\": \"C_Login\", \"rv\": \"CKR_PIN_INCORRECT\", \"flags\": "
      "[\"CKF_USER_PIN_COUNT_LOW\", \"CKF_USER_PIN_FINAL_TRY\"], \"skip\": 2}\n");
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0].call, fault::Call::C_Sign);
  EXPECT_EQ(lines[0].rv, CKR_DEVICE_REMOVED);
  EXPECT_EQ(lines[0].times, 1U);
  EXPECT_EQ(lines[1].flags, CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
  EXPECT_EQ(lines[1].skip, 2U);
  EXPECT_FALSE(lines[1].times.has_value()) << "every call";
  const auto array = parseRules(
      R"([{"call": "C_GetSlotList", "tokenPresent": false}, {"call": "C_Sign", "delayMs": 500},
          {"call": "C_Sign", "hang": true}, {"call": "C_Sign", "abort": true},
          {"call": "C_Sign", "reset": true}])");
  ASSERT_EQ(array.size(), 5U);
  EXPECT_TRUE(array[0].tokenAbsent);
  EXPECT_EQ(array[1].delay, std::chrono::milliseconds(500));
  EXPECT_TRUE(array[2].hang);
  EXPECT_TRUE(array[3].abort);
  EXPECT_TRUE(array[4].reset);
}

TEST(FaultRules, MistakesAreRefusedWithWhereAndWhat) {
  using fault::parseRules;
  const auto problem = [](const std::string& text) -> std::string {
    try {
      (void)parseRules(text);
    } catch (const fault::RulesError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_EQ(problem("{\"call\": \"C_Sign\", \"rv\": \"CKR_OK\"}\n{\"call\": \"C_Sign\""),
            "line 2 is not valid JSON");
  EXPECT_NE(problem(R"({"call": "C_Sing", "rv": "CKR_OK"})").find("line 1 needs \"call\""),
            std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "rv": "CKR_NOPE"})").find("\"rv\""), std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "rv": -1})").find("\"rv\""), std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "flags": ["CKF_NOPE"]})").find("CKF_NOPE"),
            std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "flags": []})").find("\"flags\""), std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "rv": "CKR_OK", "times": 0})").find("\"times\""),
            std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "delayMs": 600001})").find("\"delayMs\""),
            std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "hang": 1})").find("\"hang\""), std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "tokenPresent": true})").find("tokenPresent"),
            std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "times": 2})").find("does nothing"), std::string::npos);
  EXPECT_NE(problem(R"({"call": "C_Sign", "rv": "CKR_OK", "Times": 2})").find("\"Times\""),
            std::string::npos);
  EXPECT_NE(problem(R"([{"call": "C_Sign", "rv": "CKR_OK"}, 3])").find("rule 2"),
            std::string::npos);
  EXPECT_EQ(problem("[1, 2"), "the rules file is not a valid JSON array");
}

}  // namespace
}  // namespace p2pcp::testing
