// SPDX-License-Identifier: Apache-2.0
// p2pcp doctor: the pinentry the agent would run, found the way the agent
// finds it (agent/pinentry), and whether a graphical one exists when there is
// a display: requests from a browser have no terminal to ask on.
#include <algorithm>
#include <array>
#include <string_view>
#include <system_error>

#include "doctor.hpp"
#include "p2pcp/pinentry/pinentry.hpp"

namespace p2pcp::cli::doctor {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The pinentry programs that draw a window; pinentry-gnome3 is the one the
// package prefers.
constexpr std::array<const char*, 6> kGraphical = {"pinentry-gnome3", "pinentry-qt",
                                                   "pinentry-gtk2",   "pinentry-gtk-2",
                                                   "pinentry-fltk",   "pinentry-x2go"};

bool isGraphical(const fs::path& program) {
  const std::string name = program.filename().string();
  return std::ranges::any_of(kGraphical,
                             [&](const std::string_view graphical) { return name == graphical; });
}

std::optional<std::string> locate(const std::string& program) {
  try {
    return pinentry::locateProgram(program);
  } catch (const pinentry::PinentryError&) {
    return std::nullopt;
  }
}

// Where the program comes from, so the fix changes the right thing.
std::string configureFix(const Context& context, const std::string& better) {
  if (environment("P2PCP_PINENTRY")) {
    return "export P2PCP_PINENTRY=" + better;
  }
  return editCommand(context.paths.configFile());
}

}  // namespace

void checkPinentry(const Context& context, Checks& out) {
  const std::string program = context.config ? context.config->pinentry : agent::Config{}.pinentry;
  Check check{"pinentry", Status::Ok, "", "", {{"program", program}}};
  const auto display =
      environment("WAYLAND_DISPLAY") ? environment("WAYLAND_DISPLAY") : environment("DISPLAY");
  json graphical = json::array();
  for (const char* name : kGraphical) {
    if (const auto found = locate(name)) {
      graphical.push_back(*found);
    }
  }
  check.details["graphicalAvailable"] = graphical;
  const auto found = locate(program);
  if (!found) {
    check.status = Status::Fail;
    check.finding = "the pinentry program \"" + program +
                    "\" is not found (not executable, or not in PATH): the agent cannot ask "
                    "for a PIN or a consent";
    if (!graphical.empty()) {
      check.fix = configureFix(context, graphical[0].get<std::string>());
    } else if (program == "pinentry") {
      check.fix = asRoot("apt-get install pinentry-gnome3");
    } else {
      check.fix = configureFix(context, "pinentry");
    }
    out.push_back(std::move(check));
    return;
  }
  std::error_code ignored;
  const fs::path resolved = fs::canonical(*found, ignored);
  check.details["path"] = resolved.string();
  const bool windowed = isGraphical(resolved);
  check.details["graphical"] = windowed;
  check.finding = "\"" + program + "\" is " + resolved.string() +
                  (windowed ? " (graphical)" : " (terminal only)");
  if (display && !windowed) {
    // A browser's request reaches the agent with no terminal: only a window can ask.
    check.status = Status::Warn;
    if (graphical.empty()) {
      check.finding += "; there is a display (" + *display +
                       ") but no graphical pinentry, so pages cannot ask for the PIN";
      check.fix = asRoot("apt-get install pinentry-gnome3");
    } else {
      check.finding += "; there is a display (" + *display + ") and " +
                       graphical[0].get<std::string>() +
                       " is installed: use it so that pages can ask for the PIN";
      check.fix =
          program == "pinentry" && !environment("P2PCP_PINENTRY")
              ? asRoot("update-alternatives --set pinentry " + graphical[0].get<std::string>())
              : configureFix(context, graphical[0].get<std::string>());
    }
  }
  out.push_back(std::move(check));
}

}  // namespace p2pcp::cli::doctor
