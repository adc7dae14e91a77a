#pragma once
// Who is asking. A request relayed by the native-messaging host carries the
// page origin the browser reported; a request from the CLI carries none and
// is treated as the person at the keyboard.

#include <optional>
#include <string>

namespace p2pcp::agent {

struct Caller {
  std::optional<std::string> origin;   // web origin; nullopt for local programs
  std::optional<std::string> ttyName;  // the CLI's terminal, for a terminal pinentry
  std::optional<std::string> display;  // the CLI's X11/Wayland display, for a graphical pinentry

  [[nodiscard]] bool isPage() const noexcept { return origin.has_value(); }
  [[nodiscard]] std::string describe() const { return origin.value_or("a local program"); }
};

}  // namespace p2pcp::agent
