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
#include <memory>
#include <thread>

#include "p2pcp/agent/access_control.hpp"
#include "p2pcp/agent/config.hpp"
#include "p2pcp/agent/consent_store.hpp"
#include "p2pcp/agent/dispatcher.hpp"
#include "p2pcp/agent/front_door_status.hpp"
#include "p2pcp/agent/lifetime.hpp"
#include "p2pcp/agent/listener.hpp"
#include "p2pcp/agent/log.hpp"
#include "p2pcp/agent/module_discovery.hpp"
#include "p2pcp/agent/policy_holder.hpp"
#include "p2pcp/agent/policy_reload.hpp"
#include "p2pcp/agent/policy_watch.hpp"
#include "p2pcp/agent/server.hpp"
#include "p2pcp/agent/test_hooks.hpp"
#include "p2pcp/agent/token_service.hpp"
#include "p2pcp/agent/version.hpp"
#include "p2pcp/ws/front_door.hpp"

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
// through P2PCP_TEST_*_TIMEOUT_MS (milliseconds; test builds only:
// test_hooks.hpp, docs/testing.md), as they cannot wait 15 s for a frame to
// time out.
void overrideFromEnvironment(const char* name, std::chrono::milliseconds& value) {
  const auto text = testHookVariable(name);
  if (!text) {
    return;
  }
  const std::string_view digits(*text);
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

// The loopback WebSocket front door (agent/ws), when the policy or agent.json
// names a port (the policy's wins) and the policy does not forbid it. A port
// it cannot take is an error in the log and in `p2pcp status`; the Unix
// socket is served all the same.
std::unique_ptr<p2pcp::ws::FrontDoor> openFrontDoor(
    asio::io_context& io, Dispatcher& dispatcher, asio::thread_pool& workers, const Config& config,
    const PolicyHolder& policy, const ServerLimits& limits, p2pcp::agent::ByteBudget& budget) {
  const auto current = policy.tryCurrent();
  // The administrator's port wins over the person's.
  const auto policyPort = current ? current->webSocketPort : std::nullopt;
  if (!policyPort && !config.webSocketPort) {
    return nullptr;  // off by default; status says "off"
  }
  const std::uint16_t port = policyPort ? *policyPort : *config.webSocketPort;
  const char* const setBy = policyPort ? "policy" : "agent.json";
  if (!current || !current->webSocket) {
    // A malformed policy fails closed, as everywhere.
    const std::string why = current ? "the administrator's policy forbids it (\"webSocket\": false)"
                                    : "the policy is malformed";
    logWarning("the WebSocket front door stays off: " + why);
    setFrontDoorStatus({{"state", "forbidden"}, {"port", port}, {"error", why}});
    return nullptr;
  }
  p2pcp::ws::FrontDoorLimits doorLimits;
  doorLimits.idleTimeout = limits.idleTimeout;
  doorLimits.writeTimeout = limits.writeTimeout;
  doorLimits.upgradeTimeout = std::min(doorLimits.upgradeTimeout, limits.frameTimeout);
  doorLimits.messageTimeout = limits.frameTimeout;
  auto door =
      std::make_unique<p2pcp::ws::FrontDoor>(io, dispatcher, workers, budget, port, doorLimits);
  if (const auto problem = door->open()) {
    logError("the WebSocket front door is off: " + *problem);
    setFrontDoorStatus({{"state", "error"}, {"port", port}, {"setBy", setBy}, {"error", *problem}});
    return nullptr;
  }
  setFrontDoorStatus({{"state", "listening"},
                      {"port", port},
                      {"setBy", setBy},
                      {"url", "ws://127.0.0.1:" + std::to_string(port)}});
  return door;
}

// After a policy reload: a policy that now forbids the front door (or is
// malformed: fail closed) closes it and its connections. It is not reopened
// when allowed again: that takes a restart. The object stays (stopped): work
// still running on the workers refers to it.
void closeFrontDoorIfForbidden(p2pcp::ws::FrontDoor* door, const PolicyHolder& policy) {
  if (door == nullptr || !door->listening()) {
    return;
  }
  const auto current = policy.tryCurrent();
  if (current && current->webSocket) {
    return;
  }
  const std::string why = current ? "the administrator's policy forbids it (\"webSocket\": false)"
                                  : "the policy is malformed";
  logWarning("closing the WebSocket front door: " + why);
  door->stop();
  setFrontDoorStatus({{"state", "forbidden"}, {"port", door->port()}, {"error", why}});
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

// --check-policy FILE, like `sshd -t`: silent and 0 when the file is
// well-formed (a summary with -v), the problem naming the field and 2 when not.
int checkPolicy(const std::string& file, bool verbose) {
  if (const auto problem = validatePolicyFile(file)) {
    std::cerr << "p2pcp-agent: " << *problem << '\n';
    return kExitConfig;
  }
  if (verbose) {
    const auto fields = Policy::fieldsIn(file);
    std::string summary;
    for (const auto& field : fields) {
      summary += (summary.empty() ? "" : ", ") + field;
    }
    std::cout << file << ": well-formed; sets " << (summary.empty() ? "nothing" : summary)
              << "; every other value is the built-in default\n";
  }
  return kExitOk;
}

// How long an agent with nothing to do lives (--exit-when-idle; the CLI's
// autostart passes it). Tests shorten it through P2PCP_TEST_EXIT_WHEN_IDLE_MS.
std::optional<std::chrono::milliseconds> idleLimit(unsigned seconds) {
  std::chrono::milliseconds limit = std::chrono::seconds(seconds);
  overrideFromEnvironment("P2PCP_TEST_EXIT_WHEN_IDLE_MS", limit);
  if (limit.count() == 0) {
    return std::nullopt;
  }
  return limit;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "p2pcp-agent: keeps your p2pcp key on your smartcard or token and serves the browser"};
  bool daemon = false;
  bool verbose = false;
  std::string socketOverride;
  std::string policyToCheck;
  unsigned exitWhenIdle = 0;
  app.add_flag("--daemon", daemon, "Run in the background; return once the socket is ready");
  app.add_option("--check-policy", policyToCheck,
                 "Check a policy file and exit: 0 and silent when it is well-formed (a summary "
                 "with -v), 2 and the field and value at fault when not");
  app.add_option("--exit-when-idle", exitWhenIdle,
                 "Exit after this many seconds without a client, a request or a login "
                 "(0, the default: never; the CLI's autostart passes 600)");
  app.add_option("--socket", socketOverride,
                 "Socket path (default: $P2PCP_AGENT_SOCK or $XDG_RUNTIME_DIR/p2pcp/agent.sock)");
  app.add_flag("-v,--verbose", verbose, "Log debug messages");
  app.set_version_flag("--version", std::string("p2pcp-agent ") + kAgentVersion);
  CLI11_PARSE(app, argc, argv);
  if (!policyToCheck.empty()) {
    return checkPolicy(policyToCheck, verbose);
  }

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
    PolicyHolder policy(Policy::load(paths.policyFile), paths.policyFile);
    const Config config = Config::load(paths.configFile());
    const ServerLimits limits = serverLimits();
    const auto idleExit = idleLimit(exitWhenIdle);

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
    PairingStore pairingStore(paths.pairingFile());
    Pairings pairings(pairingStore, dialogs, access);
    // Vendor modules run in helper processes; the agent maps none of them.
    const auto helperProgram = pkcs11HelperProgram();
    TokenService service(config, policy, discoverModules(config, *policy.current(), helperProgram),
                         helperProgram, dialogs, helperTimeouts());
    service.keepDefaultKeyIn(paths.defaultKeyFile());
    Dispatcher dispatcher(service, access, pairings);
    PolicyReloader reloader(policy, access, service, config, helperProgram);
    const ExecutableWatch program;

    asio::io_context io;
    asio::thread_pool workers(4);
    // Locking and the once-a-second housekeeping (login expiry, token scan) run
    // on a thread of their own: requests waiting for the person on the workers
    // must never delay a lock or an expiry.
    asio::thread_pool housekeeping(1);
    asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol(),
                                                    listener->socket.release());
    Server server(io, std::move(acceptor), dispatcher, workers, limits);
    server.start();
    auto frontDoor =
        openFrontDoor(io, dispatcher, workers, config, policy, limits, server.budget());
    if (frontDoor) {
      // A revoked page must pair again: its open connections end now.
      pairings.onRevoked(
          [door = frontDoor.get()](const std::string& origin) { door->closeOrigin(origin); });
    }
    service.setEventSink([&server, &frontDoor](const nlohmann::json& note) {
      server.broadcast(note);
      if (frontDoor) {
        frontDoor->broadcast(note);
      }
    });

    const auto stopAgent = [&](const std::string& why) {
      logInfo("stopping: " + why);
      server.stop();
      if (frontDoor) {
        frontDoor->stop();
      }
      io.stop();
    };
    asio::signal_set stopSignals(io, SIGINT, SIGTERM);
    stopSignals.async_wait([&](const boost::system::error_code&, int signal) {
      stopAgent("signal " + std::to_string(signal));
    });
    // SIGHUP reloads the policy, as sshd and gpg-agent reload their
    // configuration; SIGUSR1 locks like `p2pcp lock` (for screen-lock hooks),
    // on the housekeeping thread, so neither waits behind a request.
    const auto requestReload = [&](const std::string& why) {
      asio::post(housekeeping, [&reloader, &io, &frontDoor, &policy, why] {
        reloader.reload(why);
        // The door's connections belong to the I/O thread.
        asio::post(io,
                   [&frontDoor, &policy] { closeFrontDoorIfForbidden(frontDoor.get(), policy); });
      });
    };
    asio::signal_set reloadSignal(io, SIGHUP);
    std::function<void()> waitForHup = [&] {
      reloadSignal.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) {
          requestReload("SIGHUP");
          waitForHup();
        }
      });
    };
    waitForHup();
    asio::signal_set lockSignal(io, SIGUSR1);
    std::function<void()> waitForLock = [&] {
      lockSignal.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) {
          asio::post(housekeeping, [&service] {
            try {
              service.lockAll();
            } catch (const std::exception& e) {
              logError(std::string("lock failed: ") + e.what());
            }
          });
          waitForLock();
        }
      });
    };
    waitForLock();
    const PolicyWatch policyWatch(io, paths.policyFile, std::chrono::milliseconds(200),
                                  [&] { requestReload("the file changed"); });

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
    // Once a second on the I/O thread, which alone may look at the connections:
    // whether the agent should end by itself (lifetime.hpp).
    IdleTimer idle(idleExit.value_or(std::chrono::milliseconds::max()));
    const auto endsByItself = [&]() -> std::optional<std::string> {
      const bool busy =
          server.anyRequestInFlight() || (frontDoor && frontDoor->anyRequestInFlight());
      if (!busy && program.replaced()) {
        return program.path().string() + " was replaced or removed (an upgrade?)";
      }
      // Idle: no client connected (a browser's native host or a CLI keeps it),
      // so no request and no dialog either, and no login the person would lose.
      if (idleExit && idle.expired(server.connectionCount() == 0 &&
                                   (!frontDoor || frontDoor->connectionCount() == 0) && !busy &&
                                   !service.holdsLogins())) {
        return "idle for " + std::to_string(idleExit->count()) + " ms";
      }
      return std::nullopt;
    };
    asio::steady_timer timer(io);
    std::function<void()> schedule = [&] {
      timer.expires_after(std::chrono::seconds(1));
      timer.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) {
          if (const auto why = endsByItself()) {
            stopAgent(*why);
            return;
          }
          // Also while inotify watches: a watch ends silently when the directory is
          // removed or moved (IN_IGNORED), and a stat a second is cheap. A change
          // inotify has already reported is no longer "changed" once reloaded.
          if (reloader.changedOnDisk()) {
            requestReload("the file changed");
          }
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
