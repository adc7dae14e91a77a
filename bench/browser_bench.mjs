// SPDX-License-Identifier: Apache-2.0
// Latency of the browser path, measured in one run (docs/performance.md):
//   - signBlock with a P-256 key from a page to the token and back (p50, p99),
//   - the same page -> extension -> native host round trip with a trivial
//     echo host in place of ours (bench/echo_host.cpp),
//   - the token's own raw signature (p2pcp-bench --raw-latency),
//   - getPublicKey through our host and agent (no token operation),
//   - an echo host that waits the token's time, and one that waits as long as
//     our host and agent take (both measured in the same run),
//   - what our code adds: signBlock - echo - raw token time, and signBlock -
//     the echo host that waits the token's time, at p50;
//   - cold start: our host's start to its first reply (agent running) next to
//     the echo host's;
//   - the agent's WebSocket front door (clients/p2pcp-ws.js) next to the
//     extension, from the same page of the same browser: hello and signBlock
//     both ways, and their ratios.
// Usage: node bench/browser_bench.mjs [BUILD_DIR] [--count N]   (default: out/build/bench)
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserSession, DEV_EXTENSION_ID, missingPrerequisite } from '../tests/browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const countAt = args.indexOf('--count');
const count = countAt >= 0 ? Number(args[countAt + 1]) : 500;
const build = path.resolve(args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--count') ?? path.join(here, '../out/build/bench'));
const bin = path.join(build, 'bin');
const missing = missingPrerequisite();
if (missing) {
  console.error(`cannot run: ${missing}`);
  process.exit(77);
}

const quantile = (sorted, q) => sorted[Math.floor(q * (sorted.length - 1))];
const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
};

// Times calls of window[api ?? 'p2pcp'][method](...) in each page, in interleaved
// rounds so that the machine's noise falls on every path alike (ms per call).
async function interleavedLatency(paths, count, rounds = 10) {
  const samples = paths.map(() => []);
  for (const { page, method, params, api = 'p2pcp' } of paths) {
    const warm = await page.evaluate(async ({ method, params, api }) => {
      // {$bytes: text} stands for the UTF-8 bytes of text (the page API takes bytes, not strings).
      const revive = (v) => (v && typeof v === 'object' ? (v.$bytes !== undefined ? new TextEncoder().encode(v.$bytes)
        : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]))) : v);
      try { await window[api][method](...params.map(revive)); return 'ok'; } catch (e) { return `${e.code} ${e.message}`; }
    }, { method, params, api });
    if (warm !== 'ok') throw new Error(`${method} failed: ${warm}`);
  }
  for (let round = 0; round < rounds; round++) {
    for (const [i, { page, method, params, api = 'p2pcp' }] of paths.entries()) {
      samples[i].push(...await page.evaluate(async ({ method, params: given, n, api }) => {
        const revive = (v) => (v && typeof v === 'object' ? (v.$bytes !== undefined ? new TextEncoder().encode(v.$bytes)
          : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]))) : v);
        const params = given.map(revive);
        const out = [];
        for (let k = 0; k < n; k++) {
          const start = performance.now();
          await window[api][method](...params);
          out.push(performance.now() - start);
        }
        return out;
      }, { method, params, n: Math.ceil(count / rounds), api }));
    }
  }
  return samples.map(stats);
}

// Round trips over a host's own pipes, without a browser (µs, p50).
async function pipeLatency(program, programArgs, env, message, count) {
  const child = spawn(program, programArgs, { env, stdio: ['pipe', 'pipe', 'ignore'] });
  let buffer = Buffer.alloc(0);
  let waiter = null;
  child.stdout.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32LE(0)) {
      buffer = buffer.subarray(4 + buffer.readUInt32LE(0));
      waiter();
    }
  });
  const body = Buffer.from(JSON.stringify(message));
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length);
  const times = [];
  for (let i = 0; i < count + 20; i++) {
    const start = process.hrtime.bigint();
    await new Promise((resolve) => { waiter = resolve; child.stdin.write(Buffer.concat([header, body])); });
    if (i >= 20) times.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  child.stdin.end();
  await new Promise((resolve) => child.on('exit', resolve));
  return stats(times).p50;
}

// Start of a host process to its first reply (ms), `runs` times.
async function coldStart(program, programArgs, env, runs = 30) {
  const times = [];
  const request = Buffer.from(JSON.stringify({ id: 1, method: 'hello' }));
  const header = Buffer.alloc(4);
  header.writeUInt32LE(request.length); // native order on x86-64
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const child = spawn(program, programArgs, { env, stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdin.write(Buffer.concat([header, request]));
    await new Promise((resolve, reject) => {
      let got = Buffer.alloc(0);
      child.stdout.on('data', (chunk) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= 4 && got.length >= 4 + got.readUInt32LE(0)) {
          times.push(Number(process.hrtime.bigint() - start) / 1e6);
          resolve();
        }
      });
      child.on('error', reject);
    });
    child.stdin.end();
    await new Promise((resolve) => child.on('exit', resolve));
  }
  return stats(times);
}

const raw = JSON.parse(execFileSync(path.join(bin, 'p2pcp-bench'), ['--raw-latency', String(count)]).toString());

// A free port for the agent's WebSocket front door.
const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const wsPort = server.address().port;
await new Promise((resolve) => server.close(resolve));
const sourceDir = path.resolve(here, '..');
// The test pages, and what a front-door page includes: p2pcp-core.js and p2pcp-ws.js.
const pageRoots = ['tests/browser/pages', 'browser-extension', 'clients'].map((dir) => path.join(sourceDir, dir));
const ours = await BrowserSession.start({ build, pageRoots, agentConfig: { webSocket: { port: wsPort } } });
const echo = await BrowserSession.start({ build });
let delayedEcho = null;
let tokenEcho = null;
let results;
try {
  // How long our host and agent take for signBlock over the host's own pipes,
  // beyond what the echo host takes: an echo host that waits that long is a
  // host with the same back-end time and none of our code in the browser path.
  const hostArgs = [`chrome-extension://${DEV_EXTENSION_ID}/`];
  const signRequest = { id: 1, method: 'signBlock', origin: ours.origin('a'),
    params: { storageKey: 'ab'.repeat(32), seq: 1, payload: 'aGVsbG8gcDJwY3A=' } };
  const warmPage = await ours.openPage('a');
  await warmPage.evaluate(() => window.p2pcp.identity()); // consent and login, outside the timing
  await warmPage.close();
  const pipeSign = await pipeLatency(path.join(bin, 'p2pcp-native-host'), hostArgs, ours.env, signRequest, count);
  const pipeEcho = await pipeLatency(path.join(bin, 'p2pcp-echo-host'), hostArgs, ours.env, signRequest, count);
  const backendUs = Math.max(0, Math.round(pipeSign - pipeEcho));
  delayedEcho = await BrowserSession.start({ build, extraEnv: { P2PCP_ECHO_DELAY_US: String(backendUs) } });
  // And an echo host that waits as long as the token's own signature: the
  // browser path plus the token's time, with none of our code.
  const tokenUs = Math.round(raw.p50Us);
  tokenEcho = await BrowserSession.start({ build, extraEnv: { P2PCP_ECHO_DELAY_US: String(tokenUs) } });
  for (const session of [delayedEcho, tokenEcho]) {
    execFileSync(path.join(bin, 'p2pcp'), ['install-browser-hosts', '--user-data-dir', path.join(session.home, 'profile'),
      '--host', path.join(bin, 'p2pcp-echo-host'), '--extension-id', DEV_EXTENSION_ID], { env: session.env });
  }
  // The echo session's manifest names the echo host under our host's name.
  execFileSync(path.join(bin, 'p2pcp'), ['install-browser-hosts', '--user-data-dir', path.join(echo.home, 'profile'),
    '--host', path.join(bin, 'p2pcp-echo-host'), '--extension-id', DEV_EXTENSION_ID], { env: echo.env });
  // The same page also connects through the front door (paired once; the
  // consent is the extension path's, given above): window.ws.
  const oursPage = await ours.openPage('a', 'ws.html');
  const wsReady = await oursPage.evaluate(async (port) => {
    window.ws = await window.P2pcpWs.connect({ port });
    if ((await window.ws.hello()).paired === false) await window.ws.pair({ onPairingCode: () => {} });
    return (await window.ws.identity()).fingerprint;
  }, wsPort);
  if (!/^[0-9a-f]{64}$/.test(wsReady)) throw new Error(`the front door did not answer: ${wsReady}`);
  const echoPage = await echo.openPage('a');
  const delayedPage = await delayedEcho.openPage('a');
  const tokenPage = await tokenEcho.openPage('a');
  const block = { uri: `${ours.origin('a')}/bench`, kind: 'public', seq: 1, payload: { $bytes: 'hello p2pcp' } };
  const [sign, identity, echoed, delayed, tokenOnly, extHello, wsHello, wsSign] = await interleavedLatency([
    { page: oursPage, method: 'signBlock', params: [block] },
    { page: oursPage, method: 'identity', params: [] },
    { page: echoPage, method: 'hello', params: [] },
    { page: delayedPage, method: 'hello', params: [] },
    { page: tokenPage, method: 'hello', params: [] },
    { page: oursPage, method: 'hello', params: [] },
    { page: oursPage, method: 'hello', params: [], api: 'ws' },
    { page: oursPage, method: 'signBlock', params: [block], api: 'ws' },
  ], count);
  ours.agentPid(); // the agent is running: cold start measures the host alone
  const hostCold = await coldStart(path.join(bin, 'p2pcp-native-host'), hostArgs, { ...ours.env, P2PCP_NO_AUTOSTART: '1' });
  const echoCold = await coldStart(path.join(bin, 'p2pcp-echo-host'), hostArgs, ours.env);
  results = { sign, identity, echoed, delayed, tokenOnly, tokenUs, hostCold, echoCold, pipeSign, pipeEcho, backendUs, extHello, wsHello, wsSign };
} finally {
  await ours.close();
  await echo.close();
  await delayedEcho?.close();
  await tokenEcho?.close();
}

const ms = (v) => `${v.toFixed(3)} ms`;
const { sign, identity, echoed, delayed, tokenOnly, tokenUs, hostCold, echoCold, pipeSign, pipeEcho, backendUs, extHello, wsHello, wsSign } = results;
console.log(`p2pcp browser-path benchmark: ${count} round trips each, Debian Chromium headless, SoftHSM2 P-256\n`);
console.log(`${'path'.padEnd(58)} ${'p50'.padStart(10)} ${'p99'.padStart(10)}`);
const row = (name, v) => console.log(`${name.padEnd(58)} ${ms(v.p50).padStart(10)} ${ms(v.p99).padStart(10)}`);
row('page signBlock -> extension -> host -> agent -> token', sign);
row('page identity (getPublicKey: no token operation)', identity);
row('page -> extension -> trivial echo host (baseline)', echoed);
row(`echo host that waits ${tokenUs} us (the token's time)`, tokenOnly);
row(`echo host that waits ${backendUs} us (our host + agent's time)`, delayed);
row('raw C_Sign on the token (baseline)', { p50: raw.p50Us / 1000, p99: raw.p99Us / 1000 });
const added = sign.p50 - echoed.p50 - raw.p50Us / 1000;
console.log(`\nadded by our code at p50 (signBlock - echo - raw): ${ms(added)}  (target < 0.5 ms)`);
console.log(`relay alone at p50 (identity - echo): ${ms(identity.p50 - echoed.p50)}`);
console.log(`over the host's pipes, no browser, p50: signBlock ${pipeSign.toFixed(0)} us, echo ${pipeEcho.toFixed(0)} us`);
console.log(`signBlock - echo that waits as long as our host and agent: ${ms(sign.p50 - delayed.p50)}`);
console.log(`added by our code at p50, token time taken on the same browser path (signBlock - echo waiting the token's time): ${ms(sign.p50 - tokenOnly.p50)}  (target < 0.5 ms)`);
console.log(`\ncold start to first reply, ${30} runs:`);
row('p2pcp-native-host (agent already running)', hostCold);
row('trivial compiled echo host', echoCold);

const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
console.log('\nthe WebSocket front door (p2pcp-ws.js) next to the extension, same page, same run:');
row('page hello -> extension -> host -> agent', extHello);
row('page hello -> WebSocket front door -> agent', wsHello);
row('page signBlock -> extension -> host -> agent -> token', sign);
row('page signBlock -> WebSocket front door -> agent -> token', wsSign);
console.log(`front door / extension at p50: hello ${ratio(wsHello.p50, extHello.p50)}, signBlock ${ratio(wsSign.p50, sign.p50)}; ` +
  `at p99: hello ${ratio(wsHello.p99, extHello.p99)}, signBlock ${ratio(wsSign.p99, sign.p99)}`);
