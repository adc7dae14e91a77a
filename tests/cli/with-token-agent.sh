#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command against a real agent on a fresh SoftHSM2 token that holds the
# fixed test keys (tests/fixtures), then stops that agent by its pid.
#   with-token-agent.sh BUILD_DIR COMMAND...
# Exports for COMMAND: P2PCP_CLI, P2PCP_FIXTURES, P2PCP_TEST_HOME, the agent's
# environment (SOFTHSM2_CONF, P2PCP_AGENT_SOCK, P2PCP_PINENTRY, ...).
set -euo pipefail
build=$(cd "$1" && pwd)
shift
source_dir=$(cd "$(dirname "$0")/../.." && pwd)

module=/usr/lib/softhsm/libsofthsm2.so
if ! command -v softhsm2-util >/dev/null || [[ ! -e $module ]]; then
  echo "SKIP: SoftHSM2 is not installed" >&2
  exit 77
fi

home=$(mktemp -d "${TMPDIR:-/tmp}/p2pcp-cli-test.XXXXXX")
agent_pid=""
cleanup() {
  if [[ -n $agent_pid ]]; then
    kill "$agent_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$home"
}
trap cleanup EXIT

mkdir -p "$home/tokens" "$home/config" "$home/run"
chmod 700 "$home/run"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$home/tokens" >"$home/softhsm2.conf"
export SOFTHSM2_CONF=$home/softhsm2.conf
export P2PCP_PKCS11_MODULE=$module
export P2PCP_AGENT_SOCK=$home/run/agent.sock
export XDG_CONFIG_HOME=$home/config
export P2PCP_POLICY=$home/policy.json
export P2PCP_PINENTRY=$build/bin/p2pcp-scripted-pinentry
export P2PCP_TEST_PIN=${P2PCP_TEST_PIN:-4321-test-pin}
export P2PCP_TEST_CONFIRM=${P2PCP_TEST_CONFIRM:-yes}
export P2PCP_TEST_PINENTRY_LOG=$home/pinentry.log
export P2PCP_CLI=$build/bin/p2pcp
export P2PCP_AGENT=$build/bin/p2pcp-agent
export P2PCP_FIXTURES=$source_dir/tests/fixtures
export P2PCP_TEST_HOME=$home

softhsm2-util --init-token --free --label p2pcp-test --pin "$P2PCP_TEST_PIN" --so-pin 5678 >/dev/null
id=1
for name in rsa2048 p256 p384 ed25519; do
  "$build/bin/p2pcp-token-import" --module "$module" --token p2pcp-test --pin "$P2PCP_TEST_PIN" \
    --label "fixture-$name" --id "0$id" "$P2PCP_FIXTURES/$name.pem" >/dev/null
  id=$((id + 1))
done

"$P2PCP_AGENT" --daemon --socket "$P2PCP_AGENT_SOCK" 2>>"$home/agent.log"
agent_pid=$("$P2PCP_CLI" status --json | sed -n 's/^ *"pid": \([0-9]*\).*/\1/p')
[[ -n $agent_pid ]] || { echo "agent did not report its pid" >&2; cat "$home/agent.log" >&2; exit 1; }
export P2PCP_AGENT_PID=$agent_pid

status=0
"$@" || status=$?
if [[ -n ${P2PCP_TEST_PIN:-} ]] && grep -qF -- "$P2PCP_TEST_PIN" "$home/agent.log"; then
  echo "FAIL: the PIN appears in the agent's log" >&2
  status=1
fi
exit "$status"
