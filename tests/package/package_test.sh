#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package as an administrator meets it (tests/package/CMakeLists.txt):
#   package_test.sh BUILD_DIR     (root, P2PCP_PACKAGE_TEST=1)
# Builds the .deb with scripts/package.sh (or reuses out/packages/ when it was
# built from this very source), installs an older build of it with apt, then
# upgrades to the new one, runs tests/browser/e2e.test.mjs against the
# installed programs alone, purges, and checks that nothing is left. A trap
# purges the package whatever happens.
set -euo pipefail
build=$(realpath "$1")
source_dir=$(realpath "$(dirname "$0")/../..")
package=p2pcp-agent

if [[ "${P2PCP_PACKAGE_TEST:-0}" != 1 ]]; then
  echo "skipped: set P2PCP_PACKAGE_TEST=1 (installs and purges $package on this machine)"
  exit 77
fi
if [[ $(id -u) != 0 ]]; then
  echo "skipped: installing a package needs root"
  exit 77
fi
# Known to dpkg in any state but "not-installed" (installed, config-files, half-*).
known() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) || return 1
  [[ -n "$status" && "$status" != *not-installed ]]
}
if known; then
  echo "FAIL: $package is already on this machine; this test would replace it (apt-get purge $package)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/p2pcp-package-test.XXXXXX)
cleanup() {
  local status=$?
  if known; then
    echo "cleanup: purging $package"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$package" >/dev/null 2>&1 || dpkg --purge "$package" || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { printf '== %s (%ds)\n' "$1" "$SECONDS"; }
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -qq "$@" </dev/null >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; fail "apt-get $*"; }; }

# Throwaway extension ids: the package must list exactly these, never the
# development id.
chromium_id=abcdefghijklmnopabcdefghijklmnop
firefox_id="package-test@p2pcp.dev"

step "package"
packages="$source_dir/out/packages"
if [[ -f "$packages/source-stamp" && "$(cat "$packages/source-stamp")" == "$("$source_dir/scripts/package.sh" --stamp)" ]] &&
   compgen -G "$packages/${package}_*.deb" >/dev/null; then
  echo "reusing $packages (built from this source)"
else
  packages="$build/package-test/packages"
  if [[ -f "$packages/source-stamp" && "$(cat "$packages/source-stamp")" == "$("$source_dir/scripts/package.sh" --stamp)" ]]; then
    echo "reusing $packages (built from this source)"
  else
    P2PCP_EXTENSION_IDS="$chromium_id;$firefox_id" "$source_dir/scripts/package.sh" "$packages"
  fi
fi
deb=$(ls "$packages/${package}"_*.deb)
dbgsym=$(ls "$packages/${package}-dbgsym"_*.deb)
version=$(dpkg-deb -f "$deb" Version)
IFS=';' read -r -a ids <"$packages/package-extension-ids"

step "the .deb and its -dbgsym"
# (Whole listings to files: grep -q would end the pipe early, and pipefail fail it.)
dpkg-deb -c "$dbgsym" >"$work/dbgsym-files"
grep -q '/usr/lib/debug/.build-id/.*\.debug$' "$work/dbgsym-files" || fail "no debug symbols in $dbgsym"
dpkg-deb -x "$deb" "$work/contents"
for program in usr/bin/p2pcp usr/bin/p2pcp-agent usr/bin/p2pcp-native-host usr/libexec/p2pcp/p2pcp-pkcs11-helper; do
  [[ -x "$work/contents/$program" ]] || fail "$program is not in the package"
  readelf -S "$work/contents/$program" >"$work/sections"
  ! grep -q '\.debug_info' "$work/sections" || fail "$program is not stripped"
done
grep -qx 'ExecStart=/usr/bin/p2pcp-agent' "$work/contents/usr/lib/systemd/user/p2pcp-agent.service" || fail "the unit does not start /usr/bin/p2pcp-agent"
for page in p2pcp p2pcp-agent p2pcp-native-host; do
  [[ -f "$work/contents/usr/share/man/man1/$page.1.gz" ]] || fail "no man page $page(1)"
done
[[ ! -e "$work/contents/etc/p2pcp-agent/policy.json" ]] || fail "the package ships an active policy"

# What /etc, /usr, /opt and systemd's state look like before: after the purge
# they must look the same.
snapshot() { find /etc /usr /opt /var/lib/systemd -xdev 2>/dev/null | LC_ALL=C sort; }
snapshot >"$work/before"

step "install an older build ($version~old1) with apt"
dpkg-deb -R "$deb" "$work/old"
sed -i "s/^Version: .*/Version: $version~old1/" "$work/old/DEBIAN/control"
dpkg-deb -b --root-owner-group "$work/old" "$work/${package}_old.deb" >/dev/null
apt_get install "$work/${package}_old.deb"
[[ $(dpkg-query -W -f='${Version}' "$package") == "$version~old1" ]] || fail "the old build is not installed"
conffile=/etc/p2pcp-agent/policy.example.json
[[ $(dpkg-query -W -f='${Conffiles}' "$package") == *" $conffile "* ]] || fail "$conffile is not a conffile"
[[ -L /etc/systemd/user/sockets.target.wants/p2pcp-agent.socket ]] || fail "the user socket is not enabled for every user"
# The administrator's edit of a conffile must survive the upgrade.
printf '\n' >>"$conffile"
edited=$(sha256sum "$conffile")

step "upgrade to $version with apt"
apt_get install "$deb"
[[ $(dpkg-query -W -f='${Version}' "$package") == "$version" ]] || fail "the upgrade did not install $version"
[[ $(sha256sum "$conffile") == "$edited" ]] || fail "the upgrade replaced the administrator's $conffile"
[[ -L /etc/systemd/user/sockets.target.wants/p2pcp-agent.socket ]] || fail "the upgrade disabled the user socket"
[[ ! -e /etc/p2pcp-agent/policy.json ]] || fail "an active policy appeared"
manifests=(/etc/opt/chrome/native-messaging-hosts /etc/chromium/native-messaging-hosts
           /etc/opt/edge/native-messaging-hosts /etc/opt/brave/native-messaging-hosts
           /usr/lib/mozilla/native-messaging-hosts)
manifests=("${manifests[@]/%//dev.p2pcp.agent.json}")
for manifest in "${manifests[@]}"; do
  [[ -f "$manifest" ]] || fail "postinst did not write $manifest"
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    const [file, ...ids] = process.argv.slice(1);
    const m = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const firefox = file.includes("mozilla");
    const want = ids.filter((id) => /^[a-p]{32}$/.test(id) !== firefox).map((id) => firefox ? id : `chrome-extension://${id}/`);
    const got = m[firefox ? "allowed_extensions" : "allowed_origins"];
    if (m.path !== "/usr/bin/p2pcp-native-host") throw new Error(`${file}: path ${m.path}`);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${file}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  ' "$manifest" "${ids[@]}" || fail "$manifest does not list the package's extension ids"
  ! grep -q hpncikinbmmcogikfdckffepdimmcaaa "$manifest" || fail "$manifest allows the development extension"
done
dpkg -L "$package" >"$work/files"

step "the browser end-to-end test against the installed programs"
# The unpacked test extension has the development id, which the package does
# not serve: a policy allows it, in a private mount namespace so the machine's
# /etc stays untouched. Only the test tools (token import, scripted pinentry)
# come from the build.
mkdir -p "$work/policy"
printf '{"allowedExtensions": ["hpncikinbmmcogikfdckffepdimmcaaa"]}\n' >"$work/policy/policy.json"
# shellcheck disable=SC2016 # the inner shell expands its own arguments
P2PCP_BUILD="$build" P2PCP_INSTALLED=/usr/bin unshare -m --propagation private \
  sh -c 'mount --bind "$1" /etc/p2pcp-agent && exec node --test "$2"' sh \
  "$work/policy" "$source_dir/tests/browser/e2e.test.mjs" || fail "the browser end-to-end test failed"

step "purge"
apt_get purge "$package"
! known || fail "$package is still known to dpkg"
while IFS= read -r path; do
  [[ -e "$path" && ! -d "$path" ]] && fail "$path is left after the purge"
done <"$work/files"
for path in "${manifests[@]}" /etc/p2pcp-agent /etc/systemd/user/sockets.target.wants/p2pcp-agent.socket; do
  [[ ! -e "$path" && ! -L "$path" ]] || fail "$path is left after the purge"
done
snapshot >"$work/after"
# Nothing new may be left. Gone may be only directories of the package that
# were there, empty and nobody's, before it came (dpkg removes them with it,
# as it did /etc/opt on a machine where a test had made it).
LC_ALL=C comm -13 "$work/before" "$work/after" >"$work/left"
[[ ! -s "$work/left" ]] || { cat "$work/left" >&2; fail "the purge left these behind"; }
LC_ALL=C comm -23 "$work/before" "$work/after" >"$work/gone"
while IFS= read -r path; do
  grep -qxF "$path" "$work/files" || fail "$path, there before the installation, is gone after the purge"
done <"$work/gone"
step "done"
