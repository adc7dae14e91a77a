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

for preset in "${presets[@]}"; do
  echo "== ${preset}: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$(nproc)"
  echo "== ${preset}: tests"
  ctest --preset "$preset" -j2 -LE package
done

if [[ "${1:-}" == --all && -x scripts/fuzz.sh ]]; then
  scripts/fuzz.sh
fi
if [[ "${1:-}" == --all ]]; then
  echo "== package: build, install, upgrade and purge the .deb"
  P2PCP_PACKAGE_TEST=1 ctest --preset asan -L package
fi
