// SPDX-License-Identifier: Apache-2.0
// A private mount namespace (as root) in which a test may write the system
// paths a browser reads its managed policies and system-wide native-messaging
// host manifests from, without changing the machine: each directory below gets
// a tmpfs, seeded with a copy of what it held, that exists only inside the
// namespace. A `sleep` process holds the namespace; programs enter it with
// nsenter, and it ends when the holder is killed (by its pid) and the programs
// inside have exited.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import path from 'node:path';

// Where Chromium reads policies (/etc/chromium/policies) and where
// `p2pcp install-browser-hosts --system` writes (docs/browser.md).
export const PRIVATE_ROOTS = ['/etc/chromium', '/etc/opt', '/usr/lib/mozilla'];

// Why the namespace cannot be made here, or null.
export function missingNamespacePrerequisite() {
  if (process.getuid?.() !== 0) return 'needs root (a private mount namespace over /etc/chromium)';
  for (const tool of ['/usr/bin/unshare', '/usr/bin/nsenter']) {
    if (!existsSync(tool)) return `${tool} is missing (util-linux)`;
  }
  // A directory that does not exist (a fresh machine has no /etc/opt) is made inside
  // the namespace, on a private overlay of its parent: the machine never sees it.
  const noParent = PRIVATE_ROOTS.find((dir) => !existsSync(dir) && !existsSync(path.dirname(dir)));
  return noParent ? `neither ${noParent} nor its parent exists` : null;
}

const mountNamespace = (pid) => readlinkSync(`/proc/${pid}/ns/mnt`);

export class PrivateMounts {
  // scratch: a directory of the test's own, for the seed copies and the wrapper script.
  static async create(scratch) {
    const mounts = new PrivateMounts(scratch);
    await mounts.#start();
    return mounts;
  }

  constructor(scratch) {
    this.scratch = scratch;
  }

  async #start() {
    this.holder = spawn('/usr/bin/unshare', ['-m', '--propagation', 'private', '--', 'sleep', 'infinity'],
      { stdio: 'ignore' });
    const own = mountNamespace('self');
    for (let i = 0; i < 200; i++) {
      try {
        if (mountNamespace(this.holder.pid) !== own) break;
      } catch { /* not started yet */ }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (mountNamespace(this.holder.pid) === own) {
      this.close();
      throw new Error('unshare did not make a private mount namespace');
    }
    // A root that is missing gets an overlay of its parent first (upper layer on a
    // tmpfs of the namespace's own), so that making it changes nothing outside.
    const layers = path.join(this.scratch, 'layers');
    mkdirSync(layers, { recursive: true });
    const script = [`mount -t tmpfs p2pcp-test-layers ${layers}`];
    const overlaid = new Set();
    PRIVATE_ROOTS.forEach((dir, i) => {
      const parent = path.dirname(dir);
      if (!existsSync(dir) && !overlaid.has(parent)) {
        overlaid.add(parent);
        const layer = path.join(layers, String(overlaid.size));
        script.push(`mkdir -p ${layer}/upper ${layer}/work && mount -t overlay overlay -o lowerdir=${parent},upperdir=${layer}/upper,workdir=${layer}/work ${parent}`);
      }
      const seed = path.join(this.scratch, `seed${i}`);
      script.push(`mkdir -p ${dir} && cp -a ${dir}/. ${seed}/ && mount -t tmpfs -o mode=0755 p2pcp-test ${dir} && cp -a ${seed}/. ${dir}/`);
    });
    PRIVATE_ROOTS.forEach((_, i) => mkdirSync(path.join(this.scratch, `seed${i}`), { recursive: true }));
    this.run('sh', ['-ec', script.join('\n')]);
    // Checked, not assumed: each directory is the namespace's own tmpfs.
    const table = readFileSync(`/proc/${this.holder.pid}/mountinfo`, 'utf8');
    for (const dir of PRIVATE_ROOTS) {
      if (!table.split('\n').some((line) => line.split(' ')[4] === dir && line.includes(' - tmpfs p2pcp-test '))) {
        this.close();
        throw new Error(`${dir} is not a private tmpfs in the namespace`);
      }
    }
  }

  // Runs a program inside the namespace; returns its stdout.
  run(program, args, options = {}) {
    return execFileSync('/usr/bin/nsenter', ['-t', String(this.holder.pid), '-m', '--', program, ...args],
      { encoding: 'utf8', ...options });
  }

  // The path under which this process sees a file as the namespace sees it.
  inside(file) {
    return `/proc/${this.holder.pid}/root${file}`;
  }

  writeFile(file, text) {
    this.run('sh', ['-ec', 'mkdir -p "$(dirname "$1")" && cat > "$1"', 'sh', file], { input: text });
  }

  // A program that runs `program` inside the namespace (for launchers that take
  // an executable path, such as playwright's).
  wrapper(program) {
    const file = path.join(this.scratch, `in-namespace-${path.basename(program)}`);
    writeFileSync(file, `#!/bin/sh\nexec /usr/bin/nsenter -t ${this.holder.pid} -m -- ${program} "$@"\n`);
    chmodSync(file, 0o755);
    return file;
  }

  close() {
    try { this.holder?.kill('SIGKILL'); } catch { /* already gone */ }
  }
}

