// SPDX-License-Identifier: Apache-2.0
// p2pcp-scripted-pinentry: a pinentry for tests and the headless demo. It
// speaks the real Assuan pinentry protocol on stdin/stdout, and its answers
// come from the environment:
//   P2PCP_TEST_PIN            the PIN; "a,b,c" answers a, then b, then c
//   P2PCP_TEST_PIN_STATE      file that counts GETPINs across processes (for lists)
//   P2PCP_TEST_PIN_CANCEL=1   GETPIN is cancelled
//   P2PCP_TEST_CONFIRM        yes | no (CONFIRM)
//   P2PCP_TEST_PIN_FILE, P2PCP_TEST_CONFIRM_FILE  when set, the PIN or the yes/no answer
//                             is read from this file at each prompt, so a long-running
//                             test (the browser tests) can change it between steps
//   P2PCP_TEST_PINENTRY_LOG   append one JSON line per command (never the PIN)
//   P2PCP_TEST_PINENTRY_DELAY_MS  wait before answering GETPIN/CONFIRM
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): single-threaded tool
  return value != nullptr ? value : "";
}

std::string percentDecode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() + 0 && i + 2 <= text.size() - 1) {
      out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string percentEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || c == '%' || c == '\n' || c == '\r') {
      out.push_back('%');
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0x0FU]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void logCommand(const std::string& command, const std::string& argument) {
  const std::string path = env("P2PCP_TEST_PINENTRY_LOG");
  if (path.empty()) {
    return;
  }
  nlohmann::json line = {{"cmd", command}};
  if (!argument.empty()) {
    line["arg"] = argument;
  }
  std::ofstream(path, std::ios::app)
      << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

// The n-th GETPIN across all processes of one test, counted in a locked file.
std::size_t nextPinIndex() {
  const std::string path = env("P2PCP_TEST_PIN_STATE");
  if (path.empty()) {
    return 0;
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return 0;
  }
  ::flock(fd, LOCK_EX);
  char buffer[32] = {};
  const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  const std::size_t index = n > 0 ? std::strtoul(buffer, nullptr, 10) : 0;
  const std::string next = std::to_string(index + 1);
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, next.data(), next.size(), 0) < 0) {
    std::perror("p2pcp-scripted-pinentry: cannot update the PIN counter");
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return index;
}

// The first line of the file named by the variable, or the fallback.
std::string fromFileOr(const char* variable, const std::string& fallback) {
  const std::string path = env(variable);
  if (path.empty()) {
    return fallback;
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string scriptedPin() {
  std::vector<std::string> pins;
  std::stringstream list(fromFileOr("P2PCP_TEST_PIN_FILE", env("P2PCP_TEST_PIN")));
  for (std::string pin; std::getline(list, pin, ',');) {
    pins.push_back(pin);
  }
  if (pins.empty()) {
    return "";
  }
  const std::size_t index = pins.size() > 1 ? nextPinIndex() : 0;
  return pins[std::min(index, pins.size() - 1)];
}

void delay() {
  const std::string ms = env("P2PCP_TEST_PINENTRY_DELAY_MS");
  if (!ms.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::stol(ms)));
  }
}

}  // namespace

int main() {
  std::cout << "OK Pleased to meet you, p2pcp scripted pinentry" << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    const auto space = line.find(' ');
    const std::string command = line.substr(0, space);
    const std::string argument =
        space == std::string::npos ? "" : percentDecode(line.substr(space + 1));
    logCommand(command, command == "GETPIN" ? "" : argument);
    if (command == "GETPIN") {
      delay();
      if (env("P2PCP_TEST_PIN_CANCEL") == "1") {
        std::cout << "ERR 83886179 Operation cancelled <Pinentry>" << std::endl;
        continue;
      }
      const std::string pin = scriptedPin();
      if (!pin.empty()) {
        std::cout << "D " << percentEncode(pin) << "\n";
      }
      std::cout << "OK" << std::endl;
    } else if (command == "CONFIRM") {
      delay();
      if (fromFileOr("P2PCP_TEST_CONFIRM_FILE", env("P2PCP_TEST_CONFIRM")) == "yes") {
        std::cout << "OK" << std::endl;
      } else {
        std::cout << "ERR 83886179 Operation cancelled <Pinentry>" << std::endl;
      }
    } else if (command == "GETINFO") {
      if (argument == "pid") {
        std::cout << "D " << ::getpid() << "\nOK" << std::endl;
      } else if (argument == "flavor") {
        std::cout << "D scripted\nOK" << std::endl;
      } else {
        std::cout << "D 1.0\nOK" << std::endl;
      }
    } else if (command == "BYE") {
      std::cout << "OK closing connection" << std::endl;
      return 0;
    } else if (command == "OPTION" || command == "SETDESC" || command == "SETPROMPT" ||
               command == "SETTITLE" || command == "SETERROR" || command == "SETOK" ||
               command == "SETCANCEL" || command == "SETNOTOK" || command == "SETKEYINFO" ||
               command == "SETTIMEOUT" || command == "SETREPEAT" || command == "RESET" ||
               command == "NOP") {
      std::cout << "OK" << std::endl;
    } else {
      std::cout << "ERR 536871187 Unknown IPC command <User defined source 1>" << std::endl;
    }
  }
  return 0;
}
