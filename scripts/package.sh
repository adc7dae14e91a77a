#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds every release artefact into out/packages/ (or OUTDIR):
#   p2pcp-agent_<version>_<arch>.deb and p2pcp-agent-dbgsym_<version>_<arch>.deb
#   (debian/, debhelper), with their .buildinfo and .changes, checked by lintian;
#   the signed CRX, its update manifest and the XPI from
#   scripts/build-extension.sh, when that script is present.
# The extension ids the native host serves by default come from
# OUTDIR/extension-ids written by scripts/build-extension.sh, else from
# P2PCP_EXTENSION_IDS (semicolon-separated); with neither, the package serves
# only the extensions the administrator's policy names (allowedExtensions).
# Nothing is written into the checkout outside out/: dpkg-buildpackage runs on
# a copy of the tree in out/package-build/.
#   scripts/package.sh [OUTDIR]
#   scripts/package.sh --stamp     prints the source stamp (tests compare it)
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)

# The files the package is built from (the checkout as it is, without the
# tests, benchmarks and demo a release build leaves out), and one hash over
# them, so a test can tell whether OUTDIR is fresh for this checkout.
source_files() {
  if git -C "$checkout" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$checkout" ls-files -z --cached --others --exclude-standard
  else
    find . -path ./out -prune -o -type f -print0 | sed -z 's|^\./||'
  fi | while IFS= read -r -d '' file; do
    case "$file" in
      tests/* | bench/* | demo/* | .ci/*) ;;
      *) [[ -f "$file" ]] && printf '%s\0' "$file" ;;
    esac
  done
}
source_stamp() {
  source_files | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
if [[ "${1:-}" == --stamp ]]; then
  source_stamp
  exit 0
fi

out=$(realpath -m "${1:-out/packages}")
work="$checkout/out/package-build"

sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
apt_install() {
  echo "installing: $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# The packaging tools, then debian/control's Build-Depends (its first
# alternative, without version: apt picks the version).
tools=()
for package in dpkg-dev debhelper fakeroot lintian; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || tools+=("$package")
done
((${#tools[@]} == 0)) || apt_install "${tools[@]}"
if ! unmet=$(dpkg-checkbuilddeps 2>&1); then
  mapfile -t missing < <(sed -n 's/.*Unmet build dependencies: //p' <<<"$unmet" |
    sed -E 's/\([^)]*\)//g; s/\|[^ ]*//g' | tr ' ' '\n' | sed '/^$/d')
  ((${#missing[@]} > 0)) || { echo "$unmet" >&2; exit 1; }
  apt_install "${missing[@]}"
fi

mkdir -p "$out"
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
rm -f "$out"/p2pcp-agent_* "$out"/p2pcp-agent-dbgsym_* "$out/source-stamp"

ids="${P2PCP_EXTENSION_IDS:-}"
# The ids of the CRX and XPI built here, plus those P2PCP_EXTENSION_IDS names
# (store ids, say).
if [[ -x scripts/build-extension.sh ]]; then
  echo "== extension: scripts/build-extension.sh $out"
  scripts/build-extension.sh "$out"
  if [[ -e "$out/SIGNED-WITH-THROWAWAY-KEY" ]]; then
    echo "warning: the extension is signed with a throwaway key (tests only):" \
         "set P2PCP_EXTENSION_KEY for a release (docs/browser.md)" >&2
  fi
  if [[ -s "$out/extension-ids" ]]; then
    # Whatever the file's layout, the ids are what look like ids: 32 letters
    # a-p (Chromium), name@domain or {GUID} (Firefox).
    ids=$(grep -oE '(^|[^a-z])[a-p]{32}([^a-z]|$)|[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+|\{[0-9A-Fa-f-]{36}\}' \
            "$out/extension-ids" | grep -oE '[a-p]{32}|.*@.*|\{.*\}' | paste -sd';' -)${ids:+;$ids}
    ids=$(tr ';' '\n' <<<"$ids" | awk 'NF && !seen[$0]++' | paste -sd';' -)
  fi
fi
if [[ -z "$ids" ]]; then
  echo "warning: no extension ids (P2PCP_EXTENSION_IDS or scripts/build-extension.sh):" \
       "the package's native host serves only the policy's allowedExtensions" >&2
elif [[ ";$ids;" == *";hpncikinbmmcogikfdckffepdimmcaaa;"* ]]; then
  echo "error: the development extension id has no place in a release package" >&2
  exit 1
fi

# A copy of the tree, so that dpkg-buildpackage's ../*.deb and debian/ build
# files land in out/. The path stays the same from run to run, so ccache hits.
echo "== deb: dpkg-buildpackage (extension ids: ${ids:-none})"
stamp=$(source_stamp)
rm -rf "$work"
mkdir -p "$work/p2pcp-agent-$version"
source_files | tar -C "$checkout" --null -T - -cf - | tar -C "$work/p2pcp-agent-$version" -xf -
if command -v ccache >/dev/null; then
  # debhelper gives the build a HOME of its own: name the real cache. With
  # the tree as base directory, another checkout's build hits it too.
  CCACHE_DIR=$(ccache -k cache_dir)
  export CCACHE_DIR CCACHE_BASEDIR="$work/p2pcp-agent-$version"
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
jobs=$(nproc)
export DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}"
(cd "$work/p2pcp-agent-$version" &&
  P2PCP_EXTENSION_IDS="$ids" dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) || {
  tail -50 "$work/build.log" >&2
  echo "dpkg-buildpackage failed; the whole log is $work/build.log" >&2
  exit 1
}
changes="p2pcp-agent_${version}_${arch}.changes"
for file in $(sed -n '/^Files:/,/^[^ ]/s/^ [0-9a-f]* [0-9]* [^ ]* [^ ]* //p' "$work/$changes") "$changes"; do
  mv "$work/$file" "$out/"
done

echo "== lintian"
lintian --fail-on error,warning "$out/$changes"

printf '%s\n' "$stamp" >"$out/source-stamp"
printf '%s\n' "$ids" >"$out/package-extension-ids"
echo "== $out"
ls -1 "$out"
