// SPDX-License-Identifier: Apache-2.0
// p2pcp-agent: the per-user key agent daemon.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/consent_store.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/listener.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/module_discovery.hpp"
#include "p2pcp/agent/server.hpp"
#include "p2pcp/agent/token_service.hpp"
#include "p2pcp/agent/version.hpp"

namespace asio = boost::asio;
using namespace p2pcp::agent;

namespace {

// Exit codes (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitConfig = 2;
constexpr int kExitRuntime = 3;

// No core dumps and no ptrace by other processes of the user: the agent's memory
// holds root secrets while a token is logged in.
void hardenProcess() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit noCore{0, 0};
  ::setrlimit(RLIMIT_CORE, &noCore);
  ::umask(077);
  std::signal(SIGPIPE, SIG_IGN);  // NOLINT(cert-err33-c): a vanished client must not kill us
}

// --daemon: the parent returns only once the child listens (or failed), so a
// caller that starts us can connect right after we exit.
int daemonize(int& readyFd) {
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  const pid_t child = ::fork();
  if (child < 0) {
    throw std::runtime_error("fork failed");
  }
  if (child > 0) {
    ::close(pipeFds[1]);
    char status = 1;
    const ssize_t got = ::read(pipeFds[0], &status, 1);
    ::close(pipeFds[0]);
    return got == 1 ? status : kExitRuntime;
  }
  ::close(pipeFds[0]);
  ::setsid();
  readyFd = pipeFds[1];
  return -1;
}

void reportReady(int& readyFd, char status) {
  if (readyFd >= 0) {
    [[maybe_unused]] const ssize_t n = ::write(readyFd, &status, 1);
    ::close(readyFd);
    readyFd = -1;
  }
}

// The server's limits: the defaults, except for timeouts the tests shorten
// through P2PCP_TEST_*_TIMEOUT_MS (milliseconds; test-only, docs/testing.md),
// as they cannot wait 15 s for a frame to time out.
void overrideFromEnvironment(const char* name, std::chrono::milliseconds& value) {
  const char* text = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): before any thread
  if (text == nullptr || *text == '\0') {
    return;
  }
  const std::string_view digits(text);
  std::int64_t ms = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (error != std::errc() || end != digits.data() + digits.size() || ms <= 0) {
    throw std::runtime_error(std::string(name) + " must be a positive number of milliseconds");
  }
  value = std::chrono::milliseconds(ms);
}

ServerLimits serverLimits() {
  ServerLimits limits;
  const auto override = overrideFromEnvironment;
  override("P2PCP_TEST_FRAME_TIMEOUT_MS", limits.frameTimeout);
  override("P2PCP_TEST_IDLE_TIMEOUT_MS", limits.idleTimeout);
  override("P2PCP_TEST_WRITE_TIMEOUT_MS", limits.writeTimeout);
  return limits;
}

// How long a helper's call may take before its module counts as hung. Tests
// shorten the bound for token operations through P2PCP_TEST_TOKEN_TIMEOUT_MS,
// as they cannot wait a minute for a hanging module.
p2pcp::tokens::HelperTimeouts helperTimeouts() {
  p2pcp::tokens::HelperTimeouts timeouts;
  std::chrono::milliseconds operation = timeouts.operation;
  overrideFromEnvironment("P2PCP_TEST_TOKEN_TIMEOUT_MS", operation);
  timeouts.operation = operation;
  timeouts.quick = std::min(timeouts.quick, operation);
  return timeouts;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "p2pcp-agent: keeps your p2pcp key on your smartcard or token and serves the browser"};
  bool daemon = false;
  bool verbose = false;
  std::string socketOverride;
  app.add_flag("--daemon", daemon, "Run in the background; return once the socket is ready");
  app.add_option("--socket", socketOverride,
                 "Socket path (default: $P2PCP_AGENT_SOCK or $XDG_RUNTIME_DIR/p2pcp/agent.sock)");
  app.add_flag("-v,--verbose", verbose, "Log debug messages");
  app.set_version_flag("--version", std::string("p2pcp-agent ") + kAgentVersion);
  CLI11_PARSE(app, argc, argv);

  hardenProcess();
  if (verbose) {
    setLogLevel(LogLevel::Debug);
  }
  int readyFd = -1;
  try {
    Paths paths = Paths::fromEnvironment();
    if (!socketOverride.empty()) {
      paths.socket = socketOverride;
    }
    const Policy policy = Policy::load(paths.policyFile);
    const Config config = Config::load(paths.configFile());
    const ServerLimits limits = serverLimits();

    if (daemon) {
      if (const int parentStatus = daemonize(readyFd); parentStatus >= 0) {
        return parentStatus;
      }
    }
    auto listener = openListener(paths.socket);
    if (!listener) {
      logInfo("another agent already serves " + paths.socket.string());
      reportReady(readyFd, kExitOk);
      return kExitOk;
    }

    ConsentStore consents(paths.consentFile());
    Dialogs dialogs(config);
    AccessControl access(policy, consents, dialogs);
    // Vendor modules run in helper processes; the agent maps none of them.
    const auto helperProgram = pkcs11HelperProgram();
    TokenService service(config, policy, discoverModules(config, policy, helperProgram),
                         helperProgram, dialogs, helperTimeouts());
    Dispatcher dispatcher(service, access);

    asio::io_context io;
    asio::thread_pool workers(4);
    // Locking and the once-a-second housekeeping (login expiry, token scan) run
    // on a thread of their own: requests waiting for the person on the workers
    // must never delay a lock or an expiry.
    asio::thread_pool housekeeping(1);
    asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol(),
                                                    listener->socket.release());
    Server server(io, std::move(acceptor), dispatcher, workers, limits);
    service.setEventSink([&server](const nlohmann::json& note) { server.broadcast(note); });
    server.start();

    asio::signal_set stopSignals(io, SIGINT, SIGTERM);
    stopSignals.async_wait([&](const boost::system::error_code&, int signal) {
      logInfo("stopping on signal " + std::to_string(signal));
      server.stop();
      io.stop();
    });
    asio::signal_set lockSignal(io, SIGHUP);
    std::function<void()> waitForHup = [&] {
      lockSignal.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) {
          asio::post(housekeeping, [&service] {
            try {
              service.lockAll();
            } catch (const std::exception& e) {
              logError(std::string("lock failed: ") + e.what());
            }
          });
          waitForHup();
        }
      });
    };
    waitForHup();

    // Expire idle logins and watch for token insertion and removal once a second
    // (one at a time: a tick that waits for a busy token is not queued again).
    std::atomic<bool> ticking{false};
    const auto requestTick = [&service, &ticking, &housekeeping] {
      if (ticking.exchange(true)) {
        return;  // one is queued or running: it scans soon enough
      }
      asio::post(housekeeping, [&service, &ticking] {
        try {
          service.tick();
        } catch (const std::exception& e) {
          logWarning(std::string("housekeeping failed: ") + e.what());
        }
        ticking = false;
      });
    };
    asio::steady_timer timer(io);
    std::function<void()> schedule = [&] {
      timer.expires_after(std::chrono::seconds(1));
      timer.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) {
          requestTick();
          schedule();
        }
      });
    };
    schedule();
    // Modules that report slot events (OpenSC) are scanned at once when a card
    // comes or goes, not at the next second.
    std::jthread slotWatcher([&](const std::stop_token& stop) {
      while (!stop.stop_requested()) {
        if (service.waitForSlotEvent(std::chrono::milliseconds(250))) {
          requestTick();
        }
      }
    });

    logInfo(std::string("p2pcp-agent ") + kAgentVersion + " listening on " + paths.socket.string());
    reportReady(readyFd, kExitOk);
    if (readyFd < 0 && daemon) {
      // Detach from the terminal's stdio once we are ready.
      const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (devnull >= 0) {
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(devnull, STDOUT_FILENO);
        ::close(devnull);
      }
    }
    io.run();
    slotWatcher.request_stop();
    slotWatcher.join();
    workers.stop();  // requests not started yet are dropped; running ones finish
    workers.join();
    housekeeping.join();
    service.lockAll();
    if (!listener->socketActivated) {
      ::unlink(listener->path.c_str());
    }
    return kExitOk;
  } catch (const std::exception& e) {
    logError(e.what());
    reportReady(readyFd, kExitConfig);
    return kExitConfig;
  }
}
