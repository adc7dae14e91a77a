#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the browser extension for deployment from browser-extension/:
#   OUTDIR/p2pcp.crx       signed CRX3 for Chrome, Chromium, Edge and Brave
#   OUTDIR/updates.xml     its update manifest (the URL an ExtensionInstallForcelist entry names)
#   OUTDIR/p2pcp.xpi       the add-on for Firefox, with its gecko id
#   OUTDIR/extension-ids   line 1: the Chromium extension id; line 2: the Firefox add-on id
# The Chromium id comes from the signing key (never from the development "key"
# in browser-extension/manifest.json, which the release files do not carry).
# docs/browser.md, "Building the extension for deployment", says how to use them.
set -eu

usage() {
  cat <<'EOF'
Usage: scripts/build-extension.sh [options] OUTDIR

  --key FILE         the CRX signing key (RSA private key, PEM); default: $P2PCP_EXTENSION_KEY.
                     Keep it out of the repository: it is the extension's identity.
                     With neither, a THROWAWAY key is generated into a new private
                     directory under $TMPDIR (tests only; never into OUTDIR).
  --base-url URL     where p2pcp.crx and updates.xml will be served (https://host/path);
                     default: $P2PCP_EXTENSION_BASE_URL, else a placeholder.
  --gecko-id ID      the Firefox add-on id; default: browser-extension/manifest.json's.
  --version VERSION  the extension version; default: the project version in CMakeLists.txt.
  --chromium PROGRAM the Chromium (or Chrome) binary that packs the CRX;
                     default: $CHROMIUM, else /usr/lib/chromium/chromium.
EOF
}

die() {
  echo "build-extension: $*" >&2
  exit 2
}

here=$(cd "$(dirname "$0")/.." && pwd)
key=${P2PCP_EXTENSION_KEY:-}
base_url=${P2PCP_EXTENSION_BASE_URL:-}
gecko_id=
version=
chromium=${CHROMIUM:-/usr/lib/chromium/chromium}
outdir=
while [ $# -gt 0 ]; do
  case $1 in
    --key) [ $# -ge 2 ] || die "--key needs a file"; key=$2; shift 2 ;;
    --base-url) [ $# -ge 2 ] || die "--base-url needs a URL"; base_url=$2; shift 2 ;;
    --gecko-id) [ $# -ge 2 ] || die "--gecko-id needs an id"; gecko_id=$2; shift 2 ;;
    --version) [ $# -ge 2 ] || die "--version needs a version"; version=$2; shift 2 ;;
    --chromium) [ $# -ge 2 ] || die "--chromium needs a program"; chromium=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$outdir" ] || die "one OUTDIR only"; outdir=$1; shift ;;
  esac
done
[ -n "$outdir" ] || { usage >&2; die "no OUTDIR"; }
[ -x "$chromium" ] || die "$chromium is not an executable program (apt-get install chromium, or give --chromium)"
command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
command -v python3 >/dev/null || die "python3 is missing (apt-get install python3)"

if [ -z "$version" ]; then
  version=$(sed -n 's/^project([^ ]* VERSION \([0-9.]*\).*/\1/p' "$here/CMakeLists.txt")
fi
# Chromium accepts one to four dot-separated integers, each below 65536.
echo "$version" | grep -Eq '^[0-9]{1,5}(\.[0-9]{1,5}){0,3}$' || die "\"$version\" is not an extension version (1 to 4 dot-separated numbers)"
if [ -z "$base_url" ]; then
  base_url=https://extensions.example.invalid/p2pcp
  placeholder=1
else
  placeholder=
fi
case $base_url in
  http://* | https://*) base_url=${base_url%/} ;;
  *) die "--base-url \"$base_url\" is not an http(s) URL" ;;
esac

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# sh runs the EXIT trap on a signal only if the signal ends the script through exit.
trap 'exit 130' INT TERM HUP

# OUTDIR is what gets published (served, copied to the package's directory):
# no private key ever goes there, and a stale one from an older version of this
# script is removed. The marker file says, without any secret, that the files
# were signed with a throwaway key (scripts/package.sh warns about it).
rm -f "$outdir/throwaway-signing-key.pem" "$outdir/SIGNED-WITH-THROWAWAY-KEY"
if [ -z "$key" ]; then
  keydir=$(mktemp -d "${TMPDIR:-/tmp}/p2pcp-throwaway-key.XXXXXX")  # 0700
  key=$keydir/signing-key.pem
  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key" 2>/dev/null) ||
    die "cannot generate a signing key"
  echo "signed with a throwaway key: for tests only (docs/browser.md)" >"$outdir/SIGNED-WITH-THROWAWAY-KEY"
  cat >&2 <<EOF
build-extension: ****************************************************************
build-extension: WARNING: no signing key given (--key or P2PCP_EXTENSION_KEY).
build-extension: Generated a THROWAWAY key: $key
build-extension: The extension id changes with every build. Use these files for
build-extension: tests only; sign a release with the key you keep for it.
build-extension: ****************************************************************
EOF
fi
[ -r "$key" ] || die "cannot read the signing key $key"
keyreal=$(cd "$(dirname "$key")" && pwd -P)/$(basename "$key")
case $keyreal/ in
  "$outdir"/*) die "the signing key $key is inside OUTDIR, which is published: keep it elsewhere" ;;
esac
# Chromium wants PKCS#8 PEM; openssl also accepts a PKCS#1 ("RSA PRIVATE KEY") file.
(umask 077 && openssl pkey -in "$key" -out "$work/key.pem" 2>/dev/null) || die "$key is not a private key in PEM"
openssl pkey -in "$work/key.pem" -noout -text 2>/dev/null | grep -q '^Private-Key: ([0-9]* bit, 2 primes)' ||
  die "$key is not an RSA key (CRX3 signatures here use RSA)"
# The id: the first 32 hex digits of SHA-256 of the DER public key, 0-f written as a-p.
chromium_id=$(openssl pkey -in "$work/key.pem" -pubout -outform DER | openssl dgst -sha256 -r | cut -c1-32 | tr 0-9a-f a-p)

# The release manifest: the project version, no development key, the gecko id.
# Only the extension's own kinds of file: a stray key, backup or note in the
# source folder must not end up inside the published CRX and XPI.
mkdir "$work/p2pcp"
for file in "$here"/browser-extension/*; do
  case $file in
    *.js | *.json | *.html | *.css | *.png | *.svg) [ -f "$file" ] && cp "$file" "$work/p2pcp/" ;;
    *) echo "build-extension: leaving out $file (not an extension file)" >&2 ;;
  esac
done
gecko_id=$(python3 - "$work/p2pcp/manifest.json" "$version" "$gecko_id" <<'EOF'
import json, re, sys
path, version, gecko_id = sys.argv[1:]
with open(path, encoding="utf-8") as f:
    manifest = json.load(f)
manifest.pop("key", None)  # the development key: the signing key decides the release id
manifest["version"] = version
gecko = manifest.setdefault("browser_specific_settings", {}).setdefault("gecko", {})
if gecko_id:
    gecko["id"] = gecko_id
if not re.fullmatch(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+|\{[0-9a-fA-F-]{36}\}", gecko.get("id", "")):
    sys.exit(f'"{gecko.get("id", "")}" is not a Firefox add-on id (name@domain or {{GUID}})')
with open(path, "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=2, ensure_ascii=False)
    f.write("\n")
print(gecko["id"])
EOF
) || die "cannot write the release manifest"

# Chromium's own packer (docs/dependencies.md): no display needed. --no-sandbox
# because it runs no web content and refuses to start as root without it.
"$chromium" --no-sandbox --user-data-dir="$work/profile" --pack-extension="$work/p2pcp" \
  --pack-extension-key="$work/key.pem" >"$work/pack.log" 2>&1 ||
  { cat "$work/pack.log" >&2; die "$chromium could not pack the extension"; }
[ -s "$work/p2pcp.crx" ] || { cat "$work/pack.log" >&2; die "$chromium wrote no CRX"; }

# Check what was packed: a CRX3 whose signed header names the id of our key.
python3 - "$work/p2pcp.crx" "$chromium_id" <<'EOF' || die "the packed CRX is not what was asked for"
import struct, sys
data = open(sys.argv[1], "rb").read()
if data[:4] != b"Cr24" or struct.unpack("<I", data[4:8])[0] != 3:
    sys.exit("not a CRX3 file")
header = data[12:12 + struct.unpack("<I", data[8:12])[0]]

def fields(buf):
    """(field number, bytes) of a protobuf message's length-delimited fields."""
    at = 0
    while at < len(buf):
        tag, at = varint(buf, at)
        if tag & 7 == 2:
            size, at = varint(buf, at)
            yield tag >> 3, buf[at:at + size]
            at += size
        elif tag & 7 == 0:
            _, at = varint(buf, at)
        else:
            sys.exit("unexpected protobuf wire type")

def varint(buf, at):
    value = shift = 0
    while True:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at

signed = [v for n, v in fields(header) if n == 10000]  # CrxFileHeader.signed_header_data
crx_id = [v for n, v in fields(signed[0]) if n == 1][0] if signed else b""  # SignedData.crx_id
if "".join("abcdefghijklmnop"[b >> 4] + "abcdefghijklmnop"[b & 15] for b in crx_id) != sys.argv[2]:
    sys.exit("the CRX names another extension id")
EOF

# Firefox: a zip with the manifest at its root. Fixed timestamps and order, so
# the same sources give the same XPI.
python3 - "$work/p2pcp" "$work/p2pcp.xpi" <<'EOF'
import os, sys, zipfile
source, target = sys.argv[1:]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as xpi:
    for name in sorted(os.listdir(source)):
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(os.path.join(source, name), "rb") as f:
            xpi.writestr(info, f.read())
EOF

cat >"$work/updates.xml" <<EOF
<?xml version='1.0' encoding='UTF-8'?>
<gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>
  <app appid='$chromium_id'>
    <updatecheck codebase='$base_url/p2pcp.crx' version='$version' />
  </app>
</gupdate>
EOF
printf '%s\n%s\n' "$chromium_id" "$gecko_id" >"$work/extension-ids"

for file in p2pcp.crx p2pcp.xpi updates.xml extension-ids; do
  chmod 0644 "$work/$file"
  mv -f "$work/$file" "$outdir/$file"
done

echo "build-extension: version $version"
echo "build-extension: Chromium id $chromium_id  ($outdir/p2pcp.crx, $outdir/updates.xml)"
echo "build-extension: Firefox id  $gecko_id  ($outdir/p2pcp.xpi)"
echo "build-extension: ExtensionInstallForcelist entry: \"$chromium_id;$base_url/updates.xml\""
if [ -n "$placeholder" ]; then
  echo "build-extension: note: updates.xml names the placeholder $base_url; give --base-url with the URL you serve it from" >&2
fi
