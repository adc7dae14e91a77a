#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages that building, testing and the demo need.
# Idempotent: when every package is present it changes nothing and takes a second.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libssl-dev openssl xxd libsodium-dev
  libboost1.74-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  p11-kit libp11-kit-dev libp11-dev libengine-pkcs11-openssl
  softhsm2 opensc opensc-pkcs11
  # the real card stack in the tests (tests/card): pcscd, vpcd, libcacard's CAC, NSS tools
  pcscd libpcsclite-dev vsmartcard-vpcd libcacard-dev libnss3-tools
  libassuan-dev libgpg-error-dev pinentry-tty
  libsystemd-dev
  # p2pcp-bench compares the agent with ssh-agent and its ssh-pkcs11-helper
  openssh-client
  clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format clang-tidy
)
# Node.js runs the independent cross-checks; the machine image may ship its own build.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [[ "${P2PCP_WITH_BROWSER:-0}" == 1 ]]; then
  packages+=(chromium firefox-esr)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
