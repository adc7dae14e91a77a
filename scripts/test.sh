#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up a fresh Debian 12 machine, builds, and runs every test.
#   scripts/test.sh            dev build: unit, softhsm, card, cross-check and browser tests
#   scripts/test.sh --asan     the same under AddressSanitizer + UBSan
#   scripts/test.sh --all      (CI) every test under AddressSanitizer + UBSan, the short
#                              fuzz runs, and the Debian package test (builds the .deb,
#                              installs, upgrades and purges it: root)
# --all runs the test suite once, in the sanitizer build, rather than in dev and asan
# both: the sanitizer run checks strictly more, and a second full build of the same
# tests would put CI past its half hour now that it also builds the package.
set -euo pipefail
cd "$(dirname "$0")/.."

presets=(dev)
case "${1:-}" in
  --asan) presets=(asan) ;;
  --all) presets=(asan) ;;
  "") ;;
  *) echo "usage: $0 [--asan|--all]" >&2; exit 2 ;;
esac

P2PCP_WITH_BROWSER=1 scripts/install-deps.sh
# playwright-core drives Debian's Chromium (never a downloaded browser).
npm ci --prefix tests/browser --no-audit --no-fund >/dev/null

package_pid=
for preset in "${presets[@]}"; do
  echo "== ${preset}: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$(nproc)"
  if [[ "${1:-}" == --all && -z "$package_pid" ]]; then
    # The release package builds at the lowest priority while the tests run: the
    # tests wait on sockets, browsers and timeouts much of the time, and the idle
    # CPU builds the package (the package test reuses it), which keeps CI under
    # half an hour. At nice 19 it takes almost nothing from a test that computes.
    echo "== package: scripts/package.sh in the background (log: out/package.log)"
    mkdir -p out
    setsid nice -n 19 scripts/package.sh >out/package.log 2>&1 &
    package_pid=$!
    # A failing test ends this script: the package build (its own process group,
    # by setsid) goes with it.
    trap 'kill -- "-$package_pid" 2>/dev/null || true' EXIT
  fi
  echo "== ${preset}: tests"
  ctest --preset "$preset" -j2 -LE package
done

if [[ "${1:-}" == --all && -x scripts/fuzz.sh ]]; then
  scripts/fuzz.sh
fi
if [[ -n "$package_pid" ]]; then
  if ! wait "$package_pid"; then
    trap - EXIT
    tail -40 out/package.log >&2
    echo "scripts/package.sh failed (out/package.log)" >&2
    exit 1
  fi
  trap - EXIT
  tail -12 out/package.log
fi
if [[ "${1:-}" == --all ]]; then
  echo "== package: build, install, upgrade and purge the .deb"
  P2PCP_PACKAGE_TEST=1 ctest --preset asan -L package
fi
