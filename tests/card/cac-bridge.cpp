// SPDX-License-Identifier: Apache-2.0
// p2pcp-cac-bridge: an emulated smartcard for the tests. libcacard emulates a
// CAC card over the keys and certificates of an NSS database; this program
// carries its APDUs to vsmartcard's vpcd reader driver inside pcscd, so OpenSC
// talks to it as to a card in a reader.
//
//   p2pcp-cac-bridge --db DIR --cert NICK [--cert NICK...] --port N
//                    [--host 127.0.0.1] [--start-removed]
//
// Control (one command a line on stdin): `remove` pulls the card (powers it
// off, which logs it out, and closes the connection to vpcd), `insert` puts it
// back (connects again; vpcd picks the connection up at pcscd's next poll),
// `quit` exits. Each state change is reported on stdout as one line:
// `inserted` (connected to vpcd), `removed`, `vpcd-closed` (vpcd dropped the
// connection, e.g. pcscd stopped; the bridge keeps trying to connect while the
// card is meant to be in). SIGTERM, SIGINT and the end of stdin exit cleanly.
//
// vpcd's protocol: each message is a 2-byte big-endian length and its bytes. A
// 1-byte message is a control code (0 power off, 1 power on, 2 reset, 4 get
// ATR); anything longer is an APDU. Only "get ATR" and APDUs are answered.
// Never send vpcd an empty answer (pcscd then waits forever), and send each
// answer in one write with TCP_NODELAY, or every APDU costs 40 to 90 ms of
// delayed ACKs. APDU contents are never logged: a VERIFY carries the PIN.

#include <arpa/inet.h>
#include <fcntl.h>
#include <libcacard.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr const char* kReaderName = "p2pcp-card";  // libcacard's own name for its reader
constexpr std::uint8_t kPowerOff = 0;
constexpr std::uint8_t kPowerOn = 1;
constexpr std::uint8_t kReset = 2;
constexpr std::uint8_t kGetAtr = 4;
constexpr auto kReconnectEvery = std::chrono::milliseconds(100);

void logLine(const std::string& text) {
  std::cerr << "cac-bridge: " << text << std::endl;
}

// Status lines for the test that drives the bridge, flushed at once.
void report(const char* event) {
  std::cout << event << std::endl;
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~Fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// libcacard's reader, with the reference vreader_get_reader_by_name took.
class Reader {
 public:
  explicit Reader(VReader* reader) : reader_(reader) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() { vreader_free(reader_); }
  [[nodiscard]] VReader* get() const noexcept { return reader_; }

 private:
  VReader* reader_;
};

void drainEvents() {
  // libcacard queues reader and card events for an emulator that forwards
  // them; vpcd learns of a card only through the connection, so drop them.
  while (VEvent* event = vevent_get_next_vevent()) {
    vevent_delete(event);
  }
}

// One message to vpcd in one write: the length and the bytes together.
bool sendMessage(int sock, const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 0xFFFF) {
    return false;  // never an empty answer: pcscd would wait for it forever
  }
  std::vector<std::uint8_t> frame(size + 2);
  frame[0] = static_cast<std::uint8_t>(size >> 8U);
  frame[1] = static_cast<std::uint8_t>(size & 0xFFU);
  std::memcpy(frame.data() + 2, data, size);
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n = ::send(sock, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool receiveExactly(int sock, std::uint8_t* data, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::recv(sock, data + got, size - got, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}

Fd connectToVpcd(const std::string& host, std::uint16_t port) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) {
    return {};
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error("--host must be an IPv4 address: " + host);
  }
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return {};
  }
  const int on = 1;
  ::setsockopt(sock.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  return sock;
}

class Bridge {
 public:
  Bridge(VReader* reader, std::string host, std::uint16_t port)
      : reader_(reader), host_(std::move(host)), port_(port) {}

  // Serves until quit, SIGTERM/SIGINT or the end of stdin. Returns the exit code.
  int run(bool startInserted, int signalFd) {
    wantInserted_ = startInserted;
    if (!startInserted) {
      report("removed");
    }
    bool stdinOpen = true;
    while (true) {
      if (wantInserted_ && !sock_.valid()) {
        tryConnect();
      }
      drainEvents();
      std::array<pollfd, 3> fds{};
      nfds_t count = 0;
      fds[count++] = {signalFd, POLLIN, 0};
      if (stdinOpen) {
        fds[count++] = {STDIN_FILENO, POLLIN, 0};
      }
      const bool watchingCard = sock_.valid();
      if (watchingCard) {
        fds[count++] = {sock_.get(), POLLIN, 0};
      }
      const int timeout =
          (wantInserted_ && !sock_.valid()) ? static_cast<int>(kReconnectEvery.count()) : -1;
      if (::poll(fds.data(), count, timeout) < 0) {
        if (errno == EINTR) {
          continue;
        }
        logLine(std::string("poll: ") + std::strerror(errno));
        return 1;
      }
      if (fds[0].revents != 0) {
        logLine("signalled, exiting");
        return 0;
      }
      if (stdinOpen && fds[1].revents != 0) {
        const auto command = readCommand();
        if (!command || *command == "quit") {
          logLine(command ? "quit" : "stdin closed, exiting");
          return 0;
        }
        handleCommand(*command);
      }
      if (watchingCard && sock_.valid() && fds[count - 1].revents != 0) {
        serveOneMessage();
      }
    }
  }

 private:
  void tryConnect() {
    sock_ = connectToVpcd(host_, port_);
    if (sock_.valid()) {
      report("inserted");
    }
  }

  static std::optional<std::string> readCommand() {
    std::string line;
    char c = 0;
    while (true) {
      const ssize_t n = ::read(STDIN_FILENO, &c, 1);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return std::nullopt;
      }
      if (c == '\n') {
        return line;
      }
      line += c;
    }
  }

  void handleCommand(const std::string& command) {
    if (command == "remove") {
      wantInserted_ = false;
      if (sock_.valid()) {
        // A pulled card loses power, and with it its login.
        vreader_power_off(reader_);
        sock_.reset();
      }
      report("removed");
    } else if (command == "insert") {
      wantInserted_ = true;
      if (!sock_.valid()) {
        tryConnect();
      } else {
        report("inserted");
      }
    } else {
      logLine("unknown command: " + command);
      report("error");
    }
  }

  void serveOneMessage() {
    const int on = 1;
    ::setsockopt(sock_.get(), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
    std::array<std::uint8_t, 2> header{};
    if (!receiveExactly(sock_.get(), header.data(), header.size())) {
      dropConnection();
      return;
    }
    const std::size_t size = (std::size_t{header[0]} << 8U) | header[1];
    std::vector<std::uint8_t> message(size);
    if (size > 0 && !receiveExactly(sock_.get(), message.data(), size)) {
      dropConnection();
      return;
    }
    if (size == 1) {
      control(message[0]);
    } else if (size > 1) {
      apdu(message);
    }
  }

  void control(std::uint8_t code) {
    std::array<std::uint8_t, 64> atr{};
    int atrLength = static_cast<int>(atr.size());
    switch (code) {
      case kPowerOff:
        vreader_power_off(reader_);
        break;
      case kPowerOn:
        vreader_power_on(reader_, atr.data(), &atrLength);
        break;
      case kReset:
        vreader_power_off(reader_);
        vreader_power_on(reader_, atr.data(), &atrLength);
        break;
      case kGetAtr:
        vcard_emul_get_atr(nullptr, atr.data(), &atrLength);
        if (atrLength <= 0 ||
            !sendMessage(sock_.get(), atr.data(), static_cast<std::size_t>(atrLength))) {
          dropConnection();
        }
        break;
      default:
        logLine("unknown control code " + std::to_string(code));
    }
  }

  void apdu(std::vector<std::uint8_t>& command) {
    // Room for an extended-length answer and its status word.
    std::vector<std::uint8_t> answer(65538);
    int answerLength = static_cast<int>(answer.size());
    const VReaderStatus status = vreader_xfr_bytes(
        reader_, command.data(), static_cast<int>(command.size()), answer.data(), &answerLength);
    if (status != VREADER_OK || answerLength < 2) {
      // "No precise diagnosis": an answer, never silence or an empty message.
      answer[0] = 0x6F;
      answer[1] = 0x00;
      answerLength = 2;
    }
    if (!sendMessage(sock_.get(), answer.data(), static_cast<std::size_t>(answerLength))) {
      dropConnection();
    }
  }

  void dropConnection() {
    sock_.reset();
    vreader_power_off(reader_);
    report("vpcd-closed");
  }

  VReader* reader_;
  std::string host_;
  std::uint16_t port_;
  Fd sock_;
  bool wantInserted_ = true;
};

int runBridge(const std::string& db, const std::vector<std::string>& certs, const std::string& host,
              std::uint16_t port, bool startRemoved) {
  // libcacard's option parser splits on ',', ')' and blanks: refuse names it would cut.
  if (certs.empty() || certs.size() > 3) {
    throw std::runtime_error("a CAC card holds 1 to 3 certificates");
  }
  const std::regex plainName("[A-Za-z0-9._-]+");
  for (const auto& cert : certs) {
    if (!std::regex_match(cert, plainName)) {
      throw std::runtime_error("certificate nicknames may hold only letters, digits, . _ -");
    }
  }
  if (db.find('"') != std::string::npos) {
    throw std::runtime_error("the database path may not contain '\"'");
  }
  // soft=(NSS slot, reader name, card type, card params, certificates...): the
  // empty slot name is NSS's internal key slot, where certutil put the keys.
  std::string args = "db=\"sql:" + db + "\" use_hw=no soft=(," + kReaderName + ",CAC,";
  for (const auto& cert : certs) {
    args += "," + cert;
  }
  args += ")";
  if (vcard_emul_init(vcard_emul_options(args.c_str())) != VCARD_EMUL_OK) {
    throw std::runtime_error("libcacard could not open the NSS database or find the certificates");
  }
  const Reader reader(vreader_get_reader_by_name(kReaderName));
  if (reader.get() == nullptr) {
    throw std::runtime_error("libcacard made no reader");
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) {
    throw std::runtime_error("sigprocmask failed");
  }
  const Fd signalFd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!signalFd.valid()) {
    throw std::runtime_error("signalfd failed");
  }
  Bridge bridge(reader.get(), host, port);
  const int code = bridge.run(!startRemoved, signalFd.get());
  vreader_power_off(reader.get());
  return code;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app("An emulated CAC card (libcacard) in vsmartcard's vpcd reader");
  std::string db;
  std::vector<std::string> certs;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  bool startRemoved = false;
  app.add_option("--db", db, "NSS database directory (certutil -d sql:DIR)")->required();
  app.add_option("--cert", certs, "nickname of a certificate on the card (1 to 3)")
      ->required()
      ->expected(1, 3);
  app.add_option("--host", host, "vpcd's IPv4 address");
  app.add_option("--port", port, "vpcd's port (reader.conf CHANNELID)")->required();
  app.add_flag("--start-removed", startRemoved, "start with the card out of the reader");
  CLI11_PARSE(app, argc, argv);
  return runBridge(db, certs, host, port, startRemoved);
} catch (const std::exception& e) {
  logLine(e.what());
  return 1;
}
