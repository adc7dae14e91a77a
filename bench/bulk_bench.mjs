// SPDX-License-Identifier: Apache-2.0
// What the bulk operations buy, each measured against its baseline in the same
// run (docs/performance.md, "Bulk operations"):
//   - from a page in Debian's Chromium (real extension, native host, agent,
//     SoftHSM2 P-256 key): N private storage keys one call at a time
//     (privateStorageKey) against the batch form (deriveStorageKeys), and M
//     private block signatures (signBlock against signBlocks); every batch
//     result is checked against the single calls' (storage keys) or verified
//     (signatures);
//   - the CLI: K separate `p2pcp derive private URI` processes against one
//     `p2pcp derive private --stdin` reading K lines;
//   - the agent's bare round trip (hello) on its Unix socket against a trivial
//     echo server with the same framing (bench/echo_socket_server.cpp), with
//     the same Node client, interleaved, once the browser is closed.
// The last line reads `bulk speed-up: derive N×, sign M×, hello/echo R×`.
// Usage: node bench/bulk_bench.mjs [BUILD_DIR] [--derive N] [--sign M] [--cli K] [--hello H]
//        (defaults: out/build/bench, 10000, 1000, 1000, 20000)
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserSession, missingPrerequisite } from '../tests/browser/harness.mjs';
import { measureRoundTrips } from './socket_roundtrip.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const deriveCount = option('--derive', 10000);
const signCount = option('--sign', 1000);
const cliCount = option('--cli', 1000);
const helloCount = option('--hello', 20000);
const build = path.resolve(args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--')) ??
  path.join(here, '../out/build/bench'));
const bin = path.join(build, 'bin');
const missing = missingPrerequisite();
if (missing) {
  console.error(`cannot run: ${missing}`);
  process.exit(77);
}

const seconds = (ms) => `${(ms / 1000).toFixed(3)} s`;
const ratio = (slow, fast) => (fast > 0 ? slow / fast : Infinity);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

// In the page: one call at a time, then the batch form (three times, the median
// counts); results come back as hex so that Node can compare and verify them.
async function pageDerive(page, count) {
  return page.evaluate(async (count) => {
    const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    const uris = Array.from({ length: count }, (_, i) => `/bench/files/${i}`);
    const started = performance.now();
    const single = [];
    for (const uri of uris) single.push(hex(await window.p2pcp.privateStorageKey(uri)));
    const singleMs = performance.now() - started;
    const batchMs = [];
    let batch = null;
    for (let run = 0; run < 3; run++) {
      const t0 = performance.now();
      const results = await window.p2pcp.deriveStorageKeys(uris, { kind: 'private' });
      batchMs.push(performance.now() - t0);
      batch = results.map((r) => (r.error ? `error ${r.error.code}` : hex(r.storageKey)));
    }
    return { single, singleMs, batch, batchMs };
  }, count);
}

async function pageSign(page, count) {
  return page.evaluate(async (count) => {
    const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    const blocks = Array.from({ length: count }, (_, i) => ({
      uri: `/bench/blocks/${i}`, kind: 'private', seq: i + 1, payload: new TextEncoder().encode(`block ${i}`),
    }));
    const started = performance.now();
    const single = [];
    for (const block of blocks) {
      const r = await window.p2pcp.signBlock(block);
      single.push({ storageKey: hex(r.storageKey), publicKey: hex(r.publicKey) });
    }
    const singleMs = performance.now() - started;
    const batchMs = [];
    let batch = null;
    for (let run = 0; run < 3; run++) {
      const t0 = performance.now();
      const results = await window.p2pcp.signBlocks(blocks);
      batchMs.push(performance.now() - t0);
      batch = results.map((r) => (r.error ? { error: r.error.code } : {
        signature: hex(r.signature), publicKey: hex(r.publicKey), storageKey: hex(r.storageKey), algorithm: r.algorithm,
      }));
    }
    return { single, singleMs, batch, batchMs };
  }, count);
}

// The scheme's block message: "p2pcp/v1/block\0" || storageKey || u64(seq) || SHA-256(payload).
function blockMessage(storageKeyHex, seq, payload) {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(BigInt(seq));
  return Buffer.concat([Buffer.from('p2pcp/v1/block\0'), Buffer.from(storageKeyHex, 'hex'), seqBytes,
    createHash('sha256').update(payload).digest()]);
}

function checkSignatures(sign) {
  if (sign.batch.length !== sign.single.length) throw new Error('signBlocks returned the wrong number of results');
  sign.batch.forEach((r, i) => {
    if (r.error) throw new Error(`signBlocks item ${i} failed: ${r.error}`);
    if (r.storageKey !== sign.single[i].storageKey || r.publicKey !== sign.single[i].publicKey) {
      throw new Error(`signBlocks item ${i} differs from signBlock's storage key or write key`);
    }
    const key = createPublicKey({ key: Buffer.from(r.publicKey, 'hex'), format: 'der', type: 'spki' });
    const message = blockMessage(r.storageKey, i + 1, Buffer.from(`block ${i}`));
    if (!verify(null, message, key, Buffer.from(r.signature, 'hex'))) {
      throw new Error(`signBlocks item ${i}: the signature does not verify`);
    }
  });
}

function cliRun(session, cliArgs, input) {
  const r = spawnSync(path.join(bin, 'p2pcp'), cliArgs, {
    env: { ...session.env, P2PCP_NO_AUTOSTART: '1' }, input, maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`p2pcp ${cliArgs.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

function cliDerive(session, count) {
  const uris = Array.from({ length: count }, (_, i) => `/bench/cli/${i}`);
  const t0 = performance.now();
  const single = uris.map((uri) => cliRun(session, ['derive', 'private', uri]).trim());
  const singleMs = performance.now() - t0;
  const t1 = performance.now();
  const batch = cliRun(session, ['derive', 'private', '--stdin'], `${uris.join('\n')}\n`).trim().split('\n');
  const batchMs = performance.now() - t1;
  if (batch.length !== count || batch.some((key, i) => key !== single[i])) {
    throw new Error('derive --stdin differs from separate derive calls');
  }
  return { singleMs, batchMs };
}

// The echo server with the agent's framing, on a socket of its own.
async function startEchoServer(dir) {
  const socketPath = path.join(dir, 'echo.sock');
  const child = spawn(path.join(bin, 'p2pcp-echo-socket'), [socketPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socketPath)) {
    child.kill('SIGTERM');
    throw new Error('p2pcp-echo-socket did not start');
  }
  return { child, socketPath };
}

async function helloAgainstEcho(agentSocket, echoSocket, count, rounds = 10) {
  const message = { jsonrpc: '2.0', id: 1, method: 'hello' };
  const per = Math.ceil(count / rounds);
  const agent = [];
  const echo = [];
  await measureRoundTrips(agentSocket, { count: 500, message }); // warm both
  await measureRoundTrips(echoSocket, { count: 500, message });
  for (let round = 0; round < rounds; round++) {
    agent.push(await measureRoundTrips(agentSocket, { count: per, message }));
    echo.push(await measureRoundTrips(echoSocket, { count: per, message }));
  }
  return { agent: median(agent.map((r) => r.p50Us)), echo: median(echo.map((r) => r.p50Us)) };
}

const session = await BrowserSession.start({ build });
const scratch = mkdtempSync(path.join(tmpdir(), 'p2pcp-bulk-bench-'));
let echoServer = null;
let figures;
try {
  const page = await session.openPage('a');
  // Consent and login outside the timing.
  await page.evaluate(() => window.p2pcp.privateStorageKey('/bench/warm'));
  const derive = await pageDerive(page, deriveCount);
  if (derive.batch.length !== deriveCount || derive.batch.some((key, i) => key !== derive.single[i])) {
    throw new Error('deriveStorageKeys differs from one-at-a-time privateStorageKey');
  }
  const sign = await pageSign(page, signCount);
  checkSignatures(sign);
  cliRun(session, ['derive', 'private', '/bench/cli/warm']);
  const cli = cliDerive(session, cliCount);
  // The bare round trip last, with the browser closed so that its background
  // work does not fall on one side only: the agent the native host started
  // (it outlives the browser), against the echo server, interleaved.
  session.agentPid(); // remembered, so that close() stops it
  await session.context.close();
  echoServer = await startEchoServer(scratch);
  const hello = await helloAgainstEcho(session.env.P2PCP_AGENT_SOCK, echoServer.socketPath, helloCount);
  figures = { derive, sign, cli, hello };
} finally {
  echoServer?.child.kill('SIGTERM');
  await session.close();
  rmSync(scratch, { recursive: true, force: true });
}

const { derive, sign, cli, hello } = figures;
const deriveBatch = median(derive.batchMs);
const signBatch = median(sign.batchMs);
const deriveRatio = ratio(derive.singleMs, deriveBatch);
const signRatio = ratio(sign.singleMs, signBatch);
const helloRatio = hello.agent / hello.echo;
console.log('p2pcp bulk benchmark: Debian Chromium headless, SoftHSM2 P-256 key, page with site access\n');
console.log(`${'operation'.padEnd(58)} ${'one at a time'.padStart(14)} ${'batch'.padStart(10)} ${'speed-up'.padStart(9)}`);
const row = (name, single, batch) => console.log(
  `${name.padEnd(58)} ${seconds(single).padStart(14)} ${seconds(batch).padStart(10)} ${`${ratio(single, batch).toFixed(1)}×`.padStart(9)}`);
row(`page: ${deriveCount} private storage keys`, derive.singleMs, deriveBatch);
row(`page: ${signCount} private block signatures (verified)`, sign.singleMs, signBatch);
row(`CLI: ${cliCount} private storage keys (processes vs --stdin)`, cli.singleMs, cli.batchMs);
console.log(`\nper item: derive ${(derive.singleMs / deriveCount).toFixed(3)} ms one at a time, ` +
  `${(deriveBatch / deriveCount * 1000).toFixed(1)} µs in a batch; ` +
  `sign ${(sign.singleMs / signCount).toFixed(3)} ms, ${(signBatch / signCount * 1000).toFixed(1)} µs`);
console.log(`batch runs (ms): derive ${derive.batchMs.map((v) => v.toFixed(1)).join(', ')}; ` +
  `sign ${sign.batchMs.map((v) => v.toFixed(1)).join(', ')}`);
console.log(`\nbare round trip on the Unix socket, ${helloCount} each, same Node client, p50 (median of 10 interleaved rounds):`);
console.log(`  agent hello ${hello.agent.toFixed(1)} µs, trivial echo server ${hello.echo.toFixed(1)} µs (target: at most 1.5×)`);
console.log(`\nbulk speed-up: derive ${deriveRatio.toFixed(0)}×, sign ${signRatio.toFixed(0)}×, hello/echo ${helloRatio.toFixed(2)}×`);
