// SPDX-License-Identifier: Apache-2.0
// The agent's bare round trip (`hello` from a local program) against a trivial
// Unix-socket echo server with the same framing, measured with the same client
// (socket_roundtrip.mjs) in one run. Target: the agent at most 1.5x the echo.
//   cmake --preset bench && cmake --build out/build/bench --target p2pcp-agent p2pcp-echo-socket p2pcp-pkcs11-helper
//   node bench/hello_bench.mjs out/build/bench [--count N] [--rounds N] [--baseline-agent PATH]
// --baseline-agent: also measure another p2pcp-agent build (e.g. the one
// before a change) in the same run, on its own socket.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { measureRoundTrips } from './socket_roundtrip.mjs';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function waitForSocket(socketPath, child, what) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before listening`);
    const ok = await new Promise((resolve) => {
      const s = net.createConnection(socketPath);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what} did not listen on ${socketPath} in time`);
}

// An agent on a fresh SoftHSM2 token in a private home, and the echo server.
export async function startServers(buildDir, { baselineAgent = null } = {}) {
  const bin = path.resolve(buildDir, 'bin');
  for (const program of ['p2pcp-agent', 'p2pcp-echo-socket', 'p2pcp-pkcs11-helper']) {
    if (!existsSync(path.join(bin, program))) throw new Error(`${path.join(bin, program)} is missing: build it first`);
  }
  const home = mkdtempSync(path.join(tmpdir(), 'p2pcp-hello-bench-'));
  for (const dir of ['tokens', 'config/p2pcp', 'run']) mkdirSync(path.join(home, dir), { recursive: true });
  chmodSync(path.join(home, 'run'), 0o700);
  writeFileSync(path.join(home, 'softhsm2.conf'), `directories.tokendir = ${home}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    SOFTHSM2_CONF: path.join(home, 'softhsm2.conf'),
    P2PCP_PKCS11_MODULE: MODULE,
    P2PCP_POLICY: path.join(home, 'policy.json'),
  };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'], { env, stdio: 'ignore' });
  const agentSocket = path.join(home, 'run/agent.sock');
  const echoSocket = path.join(home, 'run/echo.sock');
  const baselineSocket = path.join(home, 'run/baseline.sock');
  const agent = spawn(path.join(bin, 'p2pcp-agent'), ['--socket', agentSocket], { env, stdio: 'ignore' });
  const echo = spawn(path.join(bin, 'p2pcp-echo-socket'), [echoSocket], { stdio: 'ignore' });
  const baseline = baselineAgent ? spawn(baselineAgent, ['--socket', baselineSocket], { env, stdio: 'ignore' }) : null;
  const children = [agent, echo, baseline].filter(Boolean);
  const stop = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    rmSync(home, { recursive: true, force: true });
  };
  try {
    await waitForSocket(agentSocket, agent, 'p2pcp-agent');
    await waitForSocket(echoSocket, echo, 'p2pcp-echo-socket');
    if (baseline) await waitForSocket(baselineSocket, baseline, baselineAgent);
  } catch (e) {
    stop();
    throw e;
  }
  return { agentSocket, echoSocket, baselineSocket: baseline ? baselineSocket : null, stop };
}

const HELLO = { jsonrpc: '2.0', id: 1, method: 'hello' };

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Rounds alternate between the two servers, so that drift on a shared machine
// hits both alike; each figure is the median over the rounds.
export async function compareHello(agentSocket, echoSocket, { count = 3000, rounds = 5, baselineSocket = null } = {}) {
  const agentRuns = [];
  const echoRuns = [];
  const baselineRuns = [];
  for (let i = 0; i < rounds; i++) {
    echoRuns.push(await measureRoundTrips(echoSocket, { count, message: HELLO }));
    agentRuns.push(await measureRoundTrips(agentSocket, { count, message: HELLO }));
    if (baselineSocket) baselineRuns.push(await measureRoundTrips(baselineSocket, { count, message: HELLO }));
  }
  const summary = (runs) => ({
    p50Us: median(runs.map((r) => r.p50Us)),
    p99Us: median(runs.map((r) => r.p99Us)),
    meanUs: median(runs.map((r) => r.meanUs)),
  });
  const agent = summary(agentRuns);
  const echo = summary(echoRuns);
  const baseline = baselineSocket ? summary(baselineRuns) : null;
  return { agent, echo, baseline, ratio: agent.p50Us / echo.p50Us, meanRatio: agent.meanUs / echo.meanUs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const buildDir = process.argv[2];
  if (!buildDir) {
    console.error('usage: node bench/hello_bench.mjs BUILD_DIR [--count N] [--rounds N]');
    process.exit(2);
  }
  const servers = await startServers(buildDir, { baselineAgent: option('--baseline-agent', null) });
  try {
    const r = await compareHello(servers.agentSocket, servers.echoSocket, {
      count: Number(option('--count', 3000)), rounds: Number(option('--rounds', 5)), baselineSocket: servers.baselineSocket,
    });
    const us = (v) => `${v.toFixed(1)} us`;
    console.log(`echo server  : p50 ${us(r.echo.p50Us)}, p99 ${us(r.echo.p99Us)}, mean ${us(r.echo.meanUs)}`);
    console.log(`agent hello  : p50 ${us(r.agent.p50Us)}, p99 ${us(r.agent.p99Us)}, mean ${us(r.agent.meanUs)}`);
    if (r.baseline) {
      console.log(`baseline agent hello: p50 ${us(r.baseline.p50Us)}, p99 ${us(r.baseline.p99Us)}, mean ${us(r.baseline.meanUs)}` +
        ` (${(r.baseline.p50Us / r.echo.p50Us).toFixed(2)}x the echo)`);
    }
    console.log(`hello/echo: ${r.ratio.toFixed(2)}x (p50), ${r.meanRatio.toFixed(2)}x (mean); target at most 1.5x`);
  } finally {
    servers.stop();
  }
}
