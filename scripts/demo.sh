#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The p2pcp key agent end to end on a SoftHSM2 virtual token; no card needed.
# Sets up a fresh Debian 12 machine, builds, makes a token in .demo/, starts
# the agent and walks through every p2pcp operation, checking each result
# with the openssl command (an implementation independent of ours).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

P2PCP_WITH_BROWSER=1 scripts/install-deps.sh
npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$(nproc)" >/dev/null
bin=$root/out/build/dev

demo=$root/.demo
rm -rf "$demo"
mkdir -p "$demo/tokens" "$demo/config" "$demo/run"
chmod 700 "$demo/run"
cat >"$demo/softhsm2.conf" <<CONF
directories.tokendir = $demo/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF=$demo/softhsm2.conf
export P2PCP_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
export P2PCP_AGENT_SOCK=$demo/run/agent.sock
export XDG_CONFIG_HOME=$demo/config
export P2PCP_POLICY=$demo/policy.json   # absent: default policy
pin=1234
softhsm2-util --init-token --free --label p2pcp-demo --pin "$pin" --so-pin 5678 >/dev/null

if [[ -t 0 && -t 1 ]] && command -v pinentry-tty >/dev/null; then
  export P2PCP_PINENTRY=$(command -v pinentry-tty)
  echo "The agent will ask for the token's PIN with pinentry-tty on this terminal: type $pin."
else
  # No terminal (CI, a pipe): the project's scripted pinentry answers over real Assuan.
  export P2PCP_PINENTRY=$bin/bin/p2pcp-scripted-pinentry
  export P2PCP_TEST_PIN=$pin
  echo "No terminal: the scripted pinentry (tests/tools) answers the PIN prompt with $pin."
fi

p2pcp() { "$bin/bin/p2pcp" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ok() { printf '   \033[32mok\033[0m %s\n' "$*"; }
agent_pid=""
cleanup() { [[ -n "$agent_pid" ]] && kill "$agent_pid" 2>/dev/null || true; }
trap cleanup EXIT

step "Generate keys on the token (the agent starts itself on first use)"
p2pcp keygen --type ec-p256 --label demo-p256
p2pcp keygen --type ed25519 --label demo-ed25519
p2pcp keygen --type rsa --label demo-rsa
agent_pid=$(p2pcp status --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')

step "Status and keys"
p2pcp status
p2pcp keys

for label in demo-p256 demo-ed25519 demo-rsa; do
  key="pkcs11:object=$label;type=private"
  step "Key $label"
  p2pcp pubkey --key "$key" --pem >"$demo/$label.pub.pem"
  spki_hex=$(openssl pkey -pubin -in "$demo/$label.pub.pem" -outform DER | od -An -vtx1 | tr -d ' \n')

  public=$(p2pcp derive public /profile --key "$key")
  expected=$( (printf 'p2pcp/v1/public\0'; printf '%s' "$spki_hex" | xxd -r -p; printf '/profile') |
    openssl dgst -sha256 -r | cut -d' ' -f1)
  [[ "$public" == "$expected" ]] || { echo "public storage key mismatch"; exit 1; }
  ok "public storage key of /profile = $public (recomputed with openssl)"

  private=$(p2pcp derive private /notes --key "$key")
  [[ "$private" == "$(p2pcp derive private /notes --key "$key")" ]] || { echo "not deterministic"; exit 1; }
  ok "private storage key of /notes = $private (deterministic, needs the token)"

  printf 'hello p2pcp' >"$demo/payload"
  sig_json=$(p2pcp sign-block --key "$key" --storage-key "$public" --seq 1 <"$demo/payload")
  sig=$(sed -n 's/.*"signature": "\([^"]*\)".*/\1/p' <<<"$sig_json")
  printf '%s' "$sig" | openssl base64 -d -A >"$demo/sig.bin"
  (printf 'p2pcp/v1/block\0'; printf '%s' "$public" | xxd -r -p; printf '\0\0\0\0\0\0\0\1';
   openssl dgst -sha256 -binary "$demo/payload") >"$demo/block.msg"
  if [[ $label == demo-ed25519 ]]; then
    openssl pkeyutl -verify -pubin -inkey "$demo/$label.pub.pem" -rawin -in "$demo/block.msg" \
      -sigfile "$demo/sig.bin" >/dev/null
  else
    openssl dgst -sha256 -verify "$demo/$label.pub.pem" -signature "$demo/sig.bin" "$demo/block.msg" >/dev/null
  fi
  ok "public block signature verified by openssl"

  p2pcp sign-block --key "$key" --storage-key "$private" --seq 7 --private /notes <"$demo/payload" >/dev/null
  ok "private block signed by the write key derived for /notes"

  sealed=$(printf 'my private notes' | p2pcp seal --key "$key" --uri /notes)
  opened=$(printf '%s' "$sealed" | p2pcp open --key "$key" --uri /notes)
  [[ "$opened" == "my private notes" ]] || { echo "seal/open failed"; exit 1; }
  ok "sealed /notes (${#sealed} base64 chars) and opened it again"
  if printf '%s' "$sealed" | p2pcp open --key "$key" --uri /other >/dev/null 2>&1; then
    echo "opened under the wrong uri"; exit 1
  fi
  ok "the same box does not open as /other (OPEN_FAILED)"
  site=$(p2pcp derive private /notes --key "$key" --origin https://app.example)
  [[ "$site" != "$private" ]] || { echo "a site's space shares the full space's keys"; exit 1; }
  ok "the site space of https://app.example has its own /notes key ($site)"
  if printf '%s' "$sealed" | p2pcp open --key "$key" --uri /notes --origin https://app.example >/dev/null 2>&1; then
    echo "a site space opened the full space's box"; exit 1
  fi
  ok "the full space's box does not open in a site's space (OPEN_FAILED)"

  login_json=$(p2pcp sign-login --key "$key" --origin https://app.example \
    --index-server wss://index.example/ --nonce AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= --timestamp 1767225600)
  sed -n 's/.*"message": "\([^"]*\)".*/\1/p' <<<"$login_json" | openssl base64 -d -A >"$demo/login.msg"
  sed -n 's/.*"signature": "\([^"]*\)".*/\1/p' <<<"$login_json" | openssl base64 -d -A >"$demo/login.sig"
  if [[ $label == demo-ed25519 ]]; then
    openssl pkeyutl -verify -pubin -inkey "$demo/$label.pub.pem" -rawin -in "$demo/login.msg" \
      -sigfile "$demo/login.sig" >/dev/null
  else
    openssl dgst -sha256 -verify "$demo/$label.pub.pem" -signature "$demo/login.sig" "$demo/login.msg" >/dev/null
  fi
  ok "index-server login for https://app.example signed and verified by openssl"
done

step "Raw signing is off unless the administrator's policy turns it on"
if printf 'anything' | p2pcp sign --key "pkcs11:object=demo-p256;type=private" 2>&1; then
  echo "raw signing should be refused"; exit 1
fi

step "The same flow from a web page, through the extension and the native host"
# Its own fresh token (the fixture P-256 key) and its own agent, started by the
# native host as a browser would; the page checks the results with WebCrypto.
show=()
if [[ -t 0 && -t 1 && -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then show=(--show); fi
node "$root/demo/run.mjs" "$bin" "${show[@]}"

step "Lock: log out and wipe cached secrets"
p2pcp lock
p2pcp status

step "Done"
echo "The agent (pid $agent_pid) is stopped now; the token stays in .demo/ for a look."
