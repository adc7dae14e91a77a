// SPDX-License-Identifier: Apache-2.0
#pragma once
// Who is asking. Every request the native host relays is a browser request:
// it carries the calling extension's id, and either the origin of the web
// page that asked (the browser's own report, never the page's word) or none,
// for the extension's own pages (its popup). A request with neither comes
// from a local program of the person's own account (the CLI).

#include <optional>
#include <string>

namespace p2pcp::agent {

enum class CallerKind {
  Local,      // a program of the person's own account: the CLI, a script
  Extension,  // the browser extension's own pages (the popup), through the native host
  Page,       // a web page, through the extension and the native host (or a local program
              // that says it speaks for one, which the same account may do)
};

struct Caller {
  CallerKind kind = CallerKind::Local;
  std::optional<std::string> origin;     // the web page's origin (kind Page only)
  std::optional<std::string> extension;  // the extension's id, when relayed by the native host
  std::optional<std::string> ttyName;    // the CLI's terminal, for a terminal pinentry
  std::optional<std::string> display;    // the CLI's X11/Wayland display, for a graphical pinentry
  // A page that came through the loopback WebSocket front door (agent/ws), not
  // through the extension: `origin` is its browser's Origin header. Kept apart
  // so that pairing can gate this door without touching the extension path.
  bool viaWebSocket = false;

  [[nodiscard]] bool isPage() const noexcept { return kind == CallerKind::Page; }
  // The words a dialog uses for who is asking.
  [[nodiscard]] std::string describe() const {
    switch (kind) {
      case CallerKind::Page:
        return origin.value_or("a web page");
      case CallerKind::Extension:
        return "the p2pcp browser extension";
      case CallerKind::Local:
        break;
    }
    return "a local program";
  }
};

}  // namespace p2pcp::agent
