#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs a command with private, writable copies of /etc, /usr and /opt, for the
# tests of p2pcp doctor: they add, break and remove browser manifests and
# policies where the shipped binary looks, without touching the machine's.
# Run it as root through `unshare -m --propagation private`: the copies
# vanish with the mount namespace.
#
#   private-system.sh SCRATCH SETUP COMMAND...
#
# SCRATCH: an empty directory for the copies' upper layers (a tmpfs goes on it).
# SETUP: shell commands run in the namespace, as root, before COMMAND.
set -eu
# Refuse to overlay the /etc, /usr and /opt of the caller: only inside a mount
# namespace of its own, unlike its parent's, does this vanish afterwards.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink "/proc/$PPID/ns/mnt")" ]; then
  echo "private-system.sh: not in a private mount namespace (run it through unshare -m)" >&2
  exit 2
fi
scratch=$1
setup=$2
shift 2
mount -t tmpfs p2pcp-doctor-test "$scratch"
for dir in /etc /usr /opt; do
  [ -d "$dir" ] || continue
  layer="$scratch/$(echo "$dir" | tr / _)"
  mkdir -p "$layer/upper" "$layer/work"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$layer/upper,workdir=$layer/work" "$dir"
done
# Start from a machine with no p2pcp host manifest, browser policy or agent
# policy, whatever this one has.
rm -rf /etc/opt/chrome /etc/chromium/native-messaging-hosts /etc/chromium/policies \
  /etc/opt/edge /etc/brave /etc/opt/brave /usr/lib/mozilla /usr/lib64/mozilla /etc/firefox \
  /usr/lib/firefox/distribution /usr/lib/firefox-esr/distribution /etc/p2pcp-agent \
  /etc/systemd/user/sockets.target.wants/p2pcp-agent.socket
sh -c "$setup"
exec "$@"
