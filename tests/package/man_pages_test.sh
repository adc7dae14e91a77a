#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The man pages (docs/man/) stay true to the programs' --help: every command
# of p2pcp and every option of each command, and every option of p2pcp-agent,
# is in its page.
#   man_pages_test.sh BUILD_DIR
set -euo pipefail
bin=$(realpath "$1")/bin
man=$(realpath "$(dirname "$0")/../../docs/man")
missing=0

# The page as plain words: roff's \- is a dash, font changes go.
page_text() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$man/$1"; }
# "  name   description" lines under a help's "Subcommands:".
subcommands() { awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' <<<"$1"; }
# The long options a help names (never --help).
options() { grep -oE '^ +(-[a-z], ?)?--[a-z][a-z-]*' <<<"$1" | grep -oE -- '--[a-z-]+' | grep -vx -- '--help' || true; }
expect() { # page word what
  if ! grep -qE -- "(^|[^a-z-])$2([^a-z-]|$)" <<<"$(page_text "$1")"; then
    echo "FAIL: $1 does not mention $2 ($3)" >&2
    missing=1
  fi
}

help=$("$bin/p2pcp" --help)
for command in $(subcommands "$help"); do
  expect p2pcp.1 "$command" "p2pcp $command"
  sub=$("$bin/p2pcp" "$command" --help)
  for option in $(options "$sub"); do expect p2pcp.1 "$option" "p2pcp $command $option"; done
  for nested in $(subcommands "$sub"); do
    expect p2pcp.1 "$nested" "p2pcp $command $nested"
    for option in $(options "$("$bin/p2pcp" "$command" "$nested" --help)"); do
      expect p2pcp.1 "$option" "p2pcp $command $nested $option"
    done
  done
done
for option in $(options "$("$bin/p2pcp-agent" --help)"); do expect p2pcp-agent.1 "$option" "p2pcp-agent $option"; done
[[ -f "$man/p2pcp-native-host.1" ]] || { echo "FAIL: no p2pcp-native-host.1" >&2; missing=1; }
((missing == 0)) && echo "man pages: every command and option of --help is documented"
exit "$missing"
