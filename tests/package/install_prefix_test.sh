#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cmake --install` into a prefix gives a consistent tree under that prefix:
# the user unit starts the prefix's agent, the host manifests that the
# installed p2pcp writes name the prefix's host, and nothing lands outside
# the prefix (no /etc/opt manifests, no /usr/bin paths).
#   install_prefix_test.sh BUILD_DIR
set -euo pipefail
build=$(realpath "$1")
work=$(mktemp -d /tmp/p2pcp-install-prefix.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=/opt/p2pcp-prefix-test
DESTDIR="$work/root" cmake --install "$build" --prefix "$prefix" >"$work/install.log"
outside=$(cd "$work/root" && find . -type f -not -path ".$prefix/*")
[[ -z "$outside" ]] || fail "installed outside the prefix: $outside"
unit="$work/root$prefix/lib/systemd/user/p2pcp-agent.service"
grep -qx "ExecStart=$prefix/bin/p2pcp-agent" "$unit" || fail "$(grep ExecStart "$unit") is not the prefix's agent"
for page in p2pcp p2pcp-agent p2pcp-native-host; do
  [[ -f "$work/root$prefix/share/man/man1/$page.1" ]] || fail "no man page $page(1)"
done
[[ -x "$work/root$prefix/libexec/p2pcp/p2pcp-pkcs11-helper" ]] || fail "the helper is not in libexec/p2pcp"

# Installed straight into a prefix, the CLI writes manifests for the host beside it.
direct="$work/direct"
cmake --install "$build" --prefix "$direct" >"$work/install-direct.log"
grep -qx "ExecStart=$direct/bin/p2pcp-agent" "$direct/lib/systemd/user/p2pcp-agent.service" || fail "the unit is not the prefix's"
HOME="$work/home" "$direct/bin/p2pcp" install-browser-hosts --user-data-dir "$work/profile" \
  --extension-id abcdefghijklmnopabcdefghijklmnop >/dev/null
grep -q "\"path\": \"$direct/bin/p2pcp-native-host\"" "$work/profile/NativeMessagingHosts/dev.p2pcp.agent.json" ||
  fail "the manifest does not name $direct/bin/p2pcp-native-host"
echo "install prefix: ok"
