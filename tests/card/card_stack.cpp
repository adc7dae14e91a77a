// SPDX-License-Identifier: Apache-2.0
#include "card_stack.hpp"

#include <netinet/in.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "p2pcp/common/ossl.hpp"

namespace p2pcp::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr const char* kPcscd = "/usr/sbin/pcscd";
constexpr const char* kVpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
constexpr const char* kCertutil = "/usr/bin/certutil";
constexpr const char* kPk12util = "/usr/bin/pk12util";
constexpr const char* kOpenssl = "/usr/bin/openssl";
constexpr const char* kPkcs11Tool = "/usr/bin/pkcs11-tool";
constexpr const char* kNsenter = "/usr/bin/nsenter";
constexpr const char* kSetpriv = "/usr/bin/setpriv";
constexpr const char* kPcscdReady = "daemon ready";
constexpr const char* kVpcdListenFailed = "Could not initialize connection to virtual ICC";
constexpr const char* kPcscdRemoved = "Card Removed From";
constexpr const char* kPcscdInserted = "Card inserted into";
constexpr auto kStartTimeout = std::chrono::seconds(15);

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool tcpPortFree(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // as vpcd binds
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  const bool free = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

// vpcd listens on its CHANNELID port and the next one (two readers), on all
// addresses. Starting from the pid keeps concurrent test processes apart;
// the range stays below Linux's ephemeral ports (32768 up).
int freeVpcdPort() {
  constexpr int kFirst = 20000;
  constexpr int kPairs = 6000;
  const int start = static_cast<int>(::getpid()) % kPairs;
  for (int i = 0; i < kPairs; ++i) {
    const int port = kFirst + 2 * ((start + i) % kPairs);
    if (tcpPortFree(port) && tcpPortFree(port + 1)) {
      return port;
    }
  }
  throw std::runtime_error("no free port pair for vpcd");
}

Bytes spkiOfCertificate(const std::string& pem) {
  const ossl::BioPtr bio(
      ossl::check(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), "BIO_new_mem_buf"));
  const ossl::X509Ptr cert(
      ossl::check(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), "PEM_read_bio_X509"));
  return ossl::subjectPublicKeyInfo(ossl::check(X509_get0_pubkey(cert.get()), "X509_get0_pubkey"));
}

void run(const std::vector<std::string>& argv, const fs::path& log) {
  SpawnOptions options;
  options.log = log;
  if (runToCompletion(argv, options) != 0) {
    throw std::runtime_error(argv[0] + " failed: " + readFile(log));
  }
}

}  // namespace

std::optional<std::string> CardStack::missingPrerequisite() {
  if (::geteuid() != 0) {
    return "needs root: pcscd runs in a private mount namespace";
  }
  struct Need {
    const char* path;
    const char* package;
  };
  for (const auto& need :
       {Need{kPcscd, "pcscd"}, Need{kVpcdDriver, "vsmartcard-vpcd"},
        Need{kOpenScModule, "opensc-pkcs11"}, Need{kPkcs11Tool, "opensc"},
        Need{kCertutil, "libnss3-tools"}, Need{kPk12util, "libnss3-tools"},
        Need{kOpenssl, "openssl"}, Need{kNsenter, "util-linux"}, Need{kSetpriv, "util-linux"},
        Need{P2PCP_CAC_BRIDGE, "the p2pcp-cac-bridge target (libcacard-dev)"}}) {
    if (!fs::exists(need.path)) {
      return std::string(need.path) + " is missing (" + need.package + ")";
    }
  }
  if (auto missing = AgentHarness::missingPrerequisite()) {
    return missing;
  }
  return MountNamespace::unavailableReason();
}

CardStack::CardStack(CardSetup setup) : setup_(std::move(setup)) {
  if (setup_.pin.size() < 4 || setup_.pin.size() > 8) {
    throw std::invalid_argument("the card's PIN (NSS password) must be 4 to 8 characters");
  }
  std::string pattern = (fs::temp_directory_path() / "p2pcp-card-test.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  dir_ = pattern;
  try {
    fs::create_directories(dir_ / "nssdb");
    fs::create_directories(dir_ / "reader.conf.d");
    fs::create_directories(dir_ / "home");

    auto start = Clock::now();
    makeDatabase();
    timings_.database = since(start);

    port_ = freeVpcdPort();
    writeReaderConf();
    namespace_ = std::make_unique<MountNamespace>();
    start = Clock::now();
    startPcscd();
    timings_.pcscd = since(start);

    start = Clock::now();
    startBridge();
    timings_.bridge = since(start);
    if (setup_.cardInserted) {
      start = Clock::now();
      if (!waitUntilListed(true, kStartTimeout)) {
        throw std::runtime_error("OpenSC does not list the card; pcscd log:\n" + pcscdLog() +
                                 "\nbridge log:\n" + bridgeLog());
      }
      timings_.cardSeen = since(start);
    }
  } catch (...) {
    bridge_.reset();
    pcscd_.reset();
    namespace_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    throw;
  }
}

CardStack::~CardStack() {
  bridge_.reset();
  pcscd_.reset();
  namespace_.reset();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void CardStack::makeDatabase() {
  const fs::path log = dir_ / "setup.log";
  const std::string db = "sql:" + (dir_ / "nssdb").string();
  const fs::path password = dir_ / "nss-password";
  {
    std::ofstream(password) << setup_.pin << "\n";
    fs::permissions(password, fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace);
  }
  run({kCertutil, "-N", "-d", db, "-f", password.string()}, log);

  // Key 1: the fixture RSA key, so docs/scheme.md's vectors apply to the card.
  const fs::path fixture = fs::path(P2PCP_FIXTURES_DIR) / "rsa2048.pem";
  const fs::path cert1 = dir_ / "card-key-1.crt";
  const fs::path p12 = dir_ / "card-key-1.p12";
  run({kOpenssl, "req", "-new", "-x509", "-key", fixture.string(), "-subj", "/CN=p2pcp card key 1",
       "-days", "3650", "-out", cert1.string()},
      log);
  run({kOpenssl, "pkcs12", "-export", "-inkey", fixture.string(), "-in", cert1.string(), "-name",
       "card-key-1", "-passout", "pass:p2pcp-test", "-out", p12.string()},
      log);
  run({kPk12util, "-i", p12.string(), "-d", db, "-k", password.string(), "-W", "p2pcp-test"}, log);
  keys_.push_back({"card-key-1", "p2pcp card key 1", "", {}, fixture});

  if (setup_.secondKey) {
    // Key 2: made by certutil, with a self-signed certificate.
    const fs::path noise = dir_ / "noise";
    {
      std::random_device random;
      std::ofstream out(noise, std::ios::binary);
      for (int i = 0; i < 64; ++i) {
        out.put(static_cast<char>(random() & 0xFFU));
      }
    }
    run({kCertutil,
         "-S",
         "-s",
         "CN=p2pcp card key 2",
         "-n",
         "card-key-2",
         "-x",
         "-t",
         ",,",
         "-k",
         "rsa",
         "-g",
         "2048",
         "-v",
         "120",
         "-d",
         db,
         "-f",
         password.string(),
         "-z",
         noise.string()},
        log);
    keys_.push_back({"card-key-2", "p2pcp card key 2", "", {}, {}});
  }
  for (auto& key : keys_) {
    const fs::path pem = dir_ / (key.nickname + ".pem");
    run({kCertutil, "-L", "-d", db, "-n", key.nickname, "-a", "-o", pem.string()}, log);
    key.certificatePem = readFile(pem);
    key.spki = spkiOfCertificate(key.certificatePem);
  }
}

void CardStack::writeReaderConf() const {
  // DEVICENAME /dev/null:PORT makes vpcd listen (server mode) on PORT.
  std::ofstream(dir_ / "reader.conf.d" / "vpcd") << "FRIENDLYNAME \"p2pcp virtual reader\"\n"
                                                 << "DEVICENAME   /dev/null:" << port_ << "\n"
                                                 << "LIBPATH      " << kVpcdDriver << "\n"
                                                 << "CHANNELID    " << port_ << "\n";
}

void CardStack::startPcscd() {
  const fs::path log = dir_ / "pcscd.log";
  const auto offset = fs::exists(log) ? fs::file_size(log) : 0;
  SpawnOptions options;
  options.namespaceFd = namespace_->fd();
  options.log = log;
  pcscd_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{kPcscd, "--foreground", "--info", "--config",
                               (dir_ / "reader.conf.d").string()},
      options);
  // pcscd says it is ready after its readers are set up and its socket listens.
  const auto deadline = Clock::now() + kStartTimeout;
  while (true) {
    const std::string text = pcscdLog().substr(offset);
    if (text.find(kVpcdListenFailed) != std::string::npos) {
      throw std::runtime_error("vpcd could not listen on port " + std::to_string(port_) + ":\n" +
                               text);
    }
    if (text.find(kPcscdReady) != std::string::npos) {
      return;
    }
    if (!pcscd_->running() || Clock::now() > deadline) {
      throw std::runtime_error("pcscd did not start:\n" + text);
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
}

void CardStack::stopPcscd() {
  pcscd_.reset();
}

void CardStack::startBridge() {
  std::vector<std::string> argv{P2PCP_CAC_BRIDGE, "--db", (dir_ / "nssdb").string()};
  for (const auto& key : keys_) {
    argv.insert(argv.end(), {"--cert", key.nickname});
  }
  argv.insert(argv.end(), {"--port", std::to_string(port_)});
  if (!setup_.cardInserted) {
    argv.emplace_back("--start-removed");
  }
  SpawnOptions options;
  options.namespaceFd = namespace_->fd();
  options.log = dir_ / "bridge.log";
  options.pipeStdin = true;
  options.pipeStdout = true;
  bridge_ = std::make_unique<ChildProcess>(argv, options);
  awaitBridge(setup_.cardInserted ? "inserted" : "removed");
}

void CardStack::awaitBridge(const std::string& event) {
  const auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    const auto line =
        bridge_->readLine(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    if (!line) {
      break;
    }
    if (*line == event) {
      return;
    }
  }
  throw std::runtime_error("the bridge did not report '" + event + "':\n" + bridgeLog());
}

void CardStack::removeCard() {
  bridge_->writeLine("remove");
  awaitBridge("removed");
}

void CardStack::insertCard() {
  bridge_->writeLine("insert");
  awaitBridge("inserted");
}

void CardStack::swapCard() {
  const int removals = pcscdLogCount(kPcscdRemoved);
  const int insertions = pcscdLogCount(kPcscdInserted);
  removeCard();
  insertCard();
  // vpcd accepts the new connection only at the poll after the one that found
  // the old one closed, so pcscd sees the card gone for one poll (~0.4 s).
  const auto deadline = Clock::now() + kStartTimeout;
  while (pcscdLogCount(kPcscdRemoved) == removals || pcscdLogCount(kPcscdInserted) == insertions) {
    if (Clock::now() > deadline) {
      throw std::runtime_error("pcscd did not see the swap:\n" + pcscdLog());
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

int CardStack::pcscdLogCount(const std::string& text) const {
  const std::string log = pcscdLog();
  int n = 0;
  for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + text.size())) {
    ++n;
  }
  return n;
}

bool CardStack::cardListedByOpenSc() const {
  const fs::path out = dir_ / "pkcs11-tool-L.out";
  std::error_code ignored;
  fs::remove(out, ignored);
  if (runInside({kPkcs11Tool, "--module", kOpenScModule, "--list-slots"}, out) != 0) {
    return false;
  }
  return readFile(out).find("token label") != std::string::npos;
}

bool CardStack::waitUntilListed(bool listed, milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (cardListedByOpenSc() != listed) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return true;
}

int CardStack::runInside(const std::vector<std::string>& argv, const fs::path& log) const {
  SpawnOptions options;
  options.namespaceFd = namespace_->fd();
  options.log = log;
  options.env = {{"HOME", (dir_ / "home").string()}};
  return runToCompletion(argv, options);
}

AgentSetup CardStack::agentSetup() const {
  AgentSetup setup;
  setup.pin = setup_.pin;
  setup.importFixtures = false;
  setup.module = kOpenScModule;
  setup.launcher = namespace_->launcher();
  // OpenSC keeps its caches under $HOME: the test's own.
  setup.extraEnv = {{"HOME", (dir_ / "home").string()}};
  return setup;
}

std::string CardStack::pcscdLog() const {
  return readFile(dir_ / "pcscd.log");
}

std::string CardStack::bridgeLog() const {
  return readFile(dir_ / "bridge.log");
}

}  // namespace p2pcp::testing
