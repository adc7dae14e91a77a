// SPDX-License-Identifier: Apache-2.0
// Clients trust only their own user's agent. Without $XDG_RUNTIME_DIR the
// socket lives in /tmp/p2pcp-<uid>/, which another local user can create
// first with a socket of theirs in it. The client library (and so the CLI and
// the native host) must refuse such a directory, and a socket served by
// another uid, before it sends a byte. The attacks are planted for real: the
// socket is served by a process running as nobody (planted_server.hpp), which
// counts what it receives.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent_harness.hpp"
#include "p2pcp/common/bytes.hpp"
#include "p2pcp/common/encoding.hpp"
#include "planted_server.hpp"

namespace p2pcp::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::string_view kPlaintext = "a plaintext that only its owner's agent may see";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string readFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "p2pcp-socket-trust.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// What a client gets when it asks the agent at `socket` to seal a plaintext:
// the refusal (AgentUnavailable) message, or a note that it was answered.
std::string sealThrough(const fs::path& socket, bool autostart = false,
                        const fs::path& agentProgram = {}) {
  client::ConnectOptions options;
  options.socket = socket;
  options.autostart = autostart;
  options.agentProgram = agentProgram;
  try {
    client::AgentClient agent(options);
    agent.call("seal", {{"uri", "/notes"}, {"plaintext", toBase64(asBytes(kPlaintext))}});
    return "not refused: the agent answered";
  } catch (const client::AgentUnavailable& e) {
    return e.what();
  } catch (const client::AgentCallError& e) {
    return "not refused: the agent answered " + e.code();
  }
}

struct CliResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Runs the built p2pcp program with this environment and `input` on stdin;
// kills it by its pid if it has not finished within 60 s.
CliResult runCli(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const fs::path& workDir,
                 std::string_view input = "") {
  const fs::path in = workDir / "cli.in";
  const fs::path out = workDir / "cli.out";
  const fs::path err = workDir / "cli.err";
  std::ofstream(in) << input;
  std::vector<std::string> envStrings = environmentWith(env);
  std::vector<char*> envp;
  envp.reserve(envStrings.size() + 1);
  for (auto& s : envStrings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> argv{P2PCP_CLI_PROGRAM};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> argp;
  argp.reserve(argv.size() + 1);
  for (auto& a : argv) {
    argp.push_back(a.data());
  }
  argp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error(std::string("cannot run p2pcp: ") + std::strerror(rc));
  }
  CliResult result;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "p2pcp did not finish within 60 s";
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = readFile(out);
  result.err = readFile(err);
  return result;
}

// The CLI's environment: the socket in `socket`, autostart allowed or not.
std::map<std::string, std::string> cliEnvironment(const fs::path& socket, bool autostart) {
  // An empty P2PCP_NO_AUTOSTART counts as unset.
  return {{"P2PCP_AGENT_SOCK", socket.string()}, {"P2PCP_NO_AUTOSTART", autostart ? "" : "1"}};
}

// Stops an agent that is not our child (a daemon the CLI started) by its pid.
void stopAgent(pid_t pid) {
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  const fs::path stat = "/proc/" + std::to_string(pid) + "/stat";
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string state = readFile(stat);
    const auto close = state.rfind(')');
    if (state.empty() || (close != std::string::npos && state.substr(close + 2, 1) == "Z")) {
      return;  // gone, or a zombie its new parent has yet to reap
    }
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
}

// An agent the CLI started as a daemon, stopped when the test ends however it ends.
struct StartedAgent {
  explicit StartedAgent(pid_t agentPid) : pid(agentPid) {}
  StartedAgent(const StartedAgent&) = delete;
  StartedAgent& operator=(const StartedAgent&) = delete;
  StartedAgent(StartedAgent&&) = delete;
  StartedAgent& operator=(StartedAgent&&) = delete;
  ~StartedAgent() { stopAgent(pid); }
  pid_t pid;
};

mode_t modeOf(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    throw std::runtime_error("lstat " + path.string() + ": " + std::strerror(errno));
  }
  return st.st_mode & 07777U;
}

std::string octal(mode_t mode) {
  std::ostringstream text;
  text << '0' << std::oct << mode;
  return text.str();
}

class SocketTrust : public ::testing::Test {
 protected:
  // A directory with exactly this mode and owner (set after mkdir, so the umask
  // plays no part), as someone could have left it.
  [[nodiscard]] fs::path makeDirectory(const std::string& name, mode_t mode,
                                       uid_t owner = ::geteuid(), gid_t group = ::getegid()) const {
    fs::path dir = temp_.path() / name;
    if (::mkdir(dir.c_str(), 0700) != 0 || ::chown(dir.c_str(), owner, group) != 0 ||
        ::chmod(dir.c_str(), mode) != 0) {
      throw std::runtime_error("cannot make " + dir.string() + ": " + std::strerror(errno));
    }
    return dir;
  }

  TempDir temp_;
};

// The attacks that need another uid: a process running as nobody.
class AnotherUsersSocket : public SocketTrust {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "planting another user's socket needs root";
    }
    if (!canRunAs(kNobody, kNogroup)) {
      GTEST_SKIP() << "cannot run a process as uid 65534 here (setresuid failed)";
    }
  }

  // /tmp/p2pcp-<uid> as another user would make it first: theirs, 0700, with
  // their socket in it.
  [[nodiscard]] fs::path directoryOfAnotherUser() const {
    return makeDirectory("p2pcp-" + std::to_string(::geteuid()), 0700, kNobody, kNogroup);
  }

  [[nodiscard]] static std::string ownedByNobody(const fs::path& dir) {
    return "refusing the agent socket directory " + dir.string() +
           ": owned by uid 65534, not by you";
  }
};

TEST_F(AnotherUsersSocket, DirectoryOwnedByAnotherUserIsRefusedBeforeConnecting) {
  const fs::path dir = directoryOfAnotherUser();
  PlantedServer planted(dir / "agent.sock", kNobody, kNogroup);
  const std::string refusal = sealThrough(dir / "agent.sock");
  const auto received = planted.stop();
  EXPECT_TRUE(contains(refusal, ownedByNobody(dir))) << refusal;
  EXPECT_EQ(received.connections, 0);
  EXPECT_EQ(received.bytes, 0U) << "uid 65534 received: " << received.firstBytes;
}

TEST_F(AnotherUsersSocket, SocketServedByAnotherUserIsRefusedBeforeAnyByteIsSent) {
  // Our own private directory, but the socket's listener runs as nobody.
  const fs::path dir = makeDirectory("run", 0700);
  PlantedServer planted(dir / "agent.sock", kNobody, kNogroup);
  const std::string refusal = sealThrough(dir / "agent.sock");
  const auto received = planted.stop();
  EXPECT_TRUE(contains(refusal, "refusing the agent at " + (dir / "agent.sock").string() +
                                    ": it is served by uid 65534"))
      << refusal;
  EXPECT_TRUE(contains(refusal, "not by you (uid 0)")) << refusal;
  EXPECT_EQ(received.connections, 1);  // it connected: the peer check came after connect()
  EXPECT_EQ(received.bytes, 0U) << "uid 65534 received: " << received.firstBytes;
}

TEST_F(AnotherUsersSocket, CliRefusesADirectoryOwnedByAnotherUserWithExitCode3) {
  const fs::path dir = directoryOfAnotherUser();
  PlantedServer planted(dir / "agent.sock", kNobody, kNogroup);
  const auto run =
      runCli({"seal", "--uri", "/notes"}, cliEnvironment(dir / "agent.sock", /*autostart=*/false),
             temp_.path(), kPlaintext);
  const auto received = planted.stop();
  EXPECT_EQ(run.exitCode, 3) << run.err;
  EXPECT_TRUE(contains(run.err, "p2pcp: AGENT_UNAVAILABLE: " + ownedByNobody(dir))) << run.err;
  EXPECT_EQ(received.connections, 0);
  EXPECT_EQ(received.bytes, 0U) << "uid 65534 received: " << received.firstBytes;
}

TEST_F(AnotherUsersSocket, CliAutostartNeitherTrustsNorStartsAnAgentInADirectoryOfAnotherUser) {
  const fs::path dir = directoryOfAnotherUser();
  PlantedServer planted(dir / "agent.sock", kNobody, kNogroup);
  const auto run =
      runCli({"seal", "--uri", "/notes"}, cliEnvironment(dir / "agent.sock", /*autostart=*/true),
             temp_.path(), kPlaintext);
  const auto received = planted.stop();
  EXPECT_EQ(run.exitCode, 3) << run.err;
  EXPECT_TRUE(contains(run.err, "p2pcp: AGENT_UNAVAILABLE: " + ownedByNobody(dir))) << run.err;
  EXPECT_EQ(received.connections, 0);
  EXPECT_EQ(received.bytes, 0U) << "uid 65534 received: " << received.firstBytes;
  // No agent was started into it (an agent would take the lock and log there).
  EXPECT_FALSE(fs::exists(dir / "agent.sock.lock"));
  EXPECT_FALSE(fs::exists(dir / "agent.log"));
  EXPECT_EQ(modeOf(dir), 0700U);
}

TEST_F(AnotherUsersSocket, CliRefusesASocketServedByAnotherUserInsteadOfStartingAnAgent) {
  const fs::path dir = makeDirectory("run", 0700);
  PlantedServer planted(dir / "agent.sock", kNobody, kNogroup);
  const auto run =
      runCli({"seal", "--uri", "/notes"}, cliEnvironment(dir / "agent.sock", /*autostart=*/true),
             temp_.path(), kPlaintext);
  const auto received = planted.stop();
  EXPECT_EQ(run.exitCode, 3) << run.err;
  EXPECT_TRUE(contains(run.err, "p2pcp: AGENT_UNAVAILABLE: refusing the agent at " +
                                    (dir / "agent.sock").string() + ": it is served by uid 65534"))
      << run.err;
  EXPECT_EQ(received.connections, 1);
  EXPECT_EQ(received.bytes, 0U) << "uid 65534 received: " << received.firstBytes;
  EXPECT_FALSE(fs::exists(dir / "agent.sock.lock"));
  EXPECT_FALSE(fs::exists(dir / "agent.log"));
}

// The directory checks alone: here the socket is served by this very uid, so
// only the directory can be the reason for a refusal.
TEST_F(SocketTrust, SymlinkToAPrivateDirectoryIsRefused) {
  const fs::path real = makeDirectory("real", 0700);
  const fs::path link = temp_.path() / "link";
  fs::create_directory_symlink(real, link);
  PlantedServer server(real / "agent.sock", ::geteuid(), ::getegid());
  const std::string refusal = sealThrough(link / "agent.sock");
  const auto received = server.stop();
  EXPECT_TRUE(contains(
      refusal, "refusing the agent socket directory " + link.string() + ": it is a symbolic link"))
      << refusal;
  EXPECT_EQ(received.connections, 0);
}

TEST_F(SocketTrust, LooseDirectoryIsRefusedAndLeftAsItIs) {
  for (const mode_t mode : {0755U, 0770U, 0701U, 02700U}) {
    SCOPED_TRACE(octal(mode));
    const fs::path dir = makeDirectory("loose" + octal(mode), mode);
    PlantedServer server(dir / "agent.sock", ::geteuid(), ::getegid());
    const std::string refusal = sealThrough(dir / "agent.sock", /*autostart=*/true);
    const auto received = server.stop();
    EXPECT_TRUE(contains(refusal, "refusing the agent socket directory " + dir.string() +
                                      ": its mode is " + octal(mode) + ", not 0700"))
        << refusal;
    EXPECT_TRUE(contains(refusal, "chmod 700 " + dir.string())) << refusal;
    EXPECT_EQ(received.connections, 0);
    EXPECT_EQ(modeOf(dir), mode);
  }
}

TEST_F(SocketTrust, AutostartDoesNotMakeALooseDirectoryPrivateAndUseIt) {
  // No agent runs yet, so the client would start one here. A socket may have
  // been planted while the directory was open: refuse rather than repair it.
  const fs::path dir = makeDirectory("loose", 0770);
  const std::string refusal =
      sealThrough(dir / "agent.sock", /*autostart=*/true, /*agentProgram=*/"/bin/false");
  EXPECT_TRUE(contains(refusal, "refusing the agent socket directory " + dir.string() +
                                    ": its mode is 0770, not 0700"))
      << refusal;
  EXPECT_EQ(modeOf(dir), 0770U);
  EXPECT_FALSE(fs::exists(dir / "agent.log")) << "the client tried to start an agent there";
}

TEST_F(SocketTrust, PathThatIsNotADirectoryIsRefused) {
  const fs::path file = temp_.path() / "file";
  std::ofstream(file) << "not a directory";
  const std::string refusal = sealThrough(file / "agent.sock", /*autostart=*/true, "/bin/false");
  EXPECT_TRUE(contains(
      refusal, "refusing the agent socket directory " + file.string() + ": it is not a directory"))
      << refusal;
}

TEST_F(SocketTrust, AgentOfThisUserInItsPrivateDirectoryIsTrusted) {
  if (auto missing = AgentHarness::missingPrerequisite()) {
    GTEST_SKIP() << *missing;
  }
  const AgentHarness harness;
  EXPECT_EQ(modeOf(harness.socket().parent_path()), 0700U);
  auto agent = harness.connect();
  EXPECT_EQ(agent.call("status")["pid"].get<pid_t>(), harness.pid());
  const auto run = runCli({"status", "--json"}, harness.environment(), temp_.path());
  EXPECT_EQ(run.exitCode, 0) << run.err;
}

TEST_F(SocketTrust, AutostartMakesAPrivateDirectoryAndTrustsTheAgentItStarted) {
  if (auto missing = AgentHarness::missingPrerequisite()) {
    GTEST_SKIP() << *missing;
  }
  const AgentHarness harness;  // the token and its environment
  // A set-group-id parent hands its bit to a new directory: the client must
  // still end up with exactly 0700 for the directory it made itself.
  const fs::path parent = makeDirectory("parent", 02700);
  const fs::path socket = parent / "p2pcp" / "agent.sock";
  auto env = harness.environment();
  env["P2PCP_AGENT_SOCK"] = socket.string();
  env["P2PCP_NO_AUTOSTART"] = "";
  const auto run = runCli({"status", "--json"}, env, temp_.path());
  ASSERT_EQ(run.exitCode, 0) << run.err << readFile(socket.parent_path() / "agent.log");
  const StartedAgent started(json::parse(run.out)["pid"].get<pid_t>());
  const pid_t pid = started.pid;
  EXPECT_NE(pid, harness.pid());
  struct stat st {};
  ASSERT_EQ(::lstat(socket.parent_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(st.st_mode & 07777U, 0700U);
  // A second call finds the agent it started and trusts it.
  const auto again = runCli({"status", "--json"}, env, temp_.path());
  EXPECT_EQ(again.exitCode, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["pid"].get<pid_t>(), pid);
}

}  // namespace
}  // namespace p2pcp::testing
