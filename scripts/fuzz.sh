#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets with clang-14 (preset "fuzz", ASan + UBSan) and
# runs each on its committed seed corpus for a short, fixed time.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
cmake --preset fuzz >/dev/null
targets=$(sed -n 's/^p2pcp_fuzz_target(\([a-z_]*\) .*/\1/p' tests/fuzz/CMakeLists.txt)
# shellcheck disable=SC2086
cmake --build --preset fuzz -j"$(nproc)" --target $targets
for target in $targets; do
  corpus=tests/fuzz/corpus/${target#fuzz_}
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  echo "== $target: ${seconds}s"
  "out/build/fuzz/bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" 2>&1 | tail -4
  rm -rf "$work"
done
echo "fuzzing: $(wc -w <<<"$targets") targets ran ${seconds}s each without a finding"
