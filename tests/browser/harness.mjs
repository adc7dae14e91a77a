// SPDX-License-Identifier: Apache-2.0
// A real browser session for the end-to-end tests and the headless demo:
// a fresh SoftHSM2 token with the P-256 fixture key, host manifests written by
// `p2pcp install-browser-hosts` into a private Chromium profile, Debian's
// Chromium with the real extension loaded, and a small HTTP server on
// 127.0.0.1 for the pages. The agent is not started here: the native host
// starts it, as it would on a person's desktop. Everything started is stopped
// by its pid in close(). A managed session (`managed`, as root) is what an
// administrator deploys instead: no unpacked extension, Chromium with a managed
// policy and the system host manifests, both written in a private mount
// namespace (private-mounts.mjs) so the machine's /etc is untouched.
import { chromium } from 'playwright-core';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, chmodSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrivateMounts } from './private-mounts.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = path.resolve(here, '../..');
export const CHROMIUM = '/usr/lib/chromium/chromium';
export const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const PIN = '4321-test-pin';
export const DEV_EXTENSION_ID = 'hpncikinbmmcogikfdckffepdimmcaaa';

export function missingPrerequisite() {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (!existsSync(MODULE)) return 'SoftHSM2 is not installed';
  return null;
}

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.xml': 'text/xml; charset=utf-8', '.crx': 'application/x-chrome-extension',
};

// Serves files from `roots` (first match wins) on 127.0.0.1; `localhost` on the
// same port is a second origin for the tests. A POST to /report hands its JSON
// body to `onReport` (pages that report their own results). `?csp=sandbox`
// serves a page with the header `Content-Security-Policy: sandbox allow-scripts`
// (an opaque origin whose URL is still http).
export function serveStatic(roots, onReport = () => {}) {
  const server = createServer((request, response) => {
    const url = new URL(request.url, 'http://127.0.0.1');
    const extraHeaders = url.searchParams.get('csp') === 'sandbox'
      ? { 'content-security-policy': 'sandbox allow-scripts' } : {};
    if (request.method === 'POST' && url.pathname === '/report') {
      let body = '';
      request.on('data', (chunk) => { body += chunk; });
      request.on('end', () => {
        response.writeHead(204).end();
        try { onReport(JSON.parse(body)); } catch { /* not JSON: ignored */ }
      });
      return;
    }
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    if (name.includes('..') || name.includes('\0')) {
      response.writeHead(400).end();
      return;
    }
    for (const root of roots) {
      const file = path.join(root, name);
      if (existsSync(file)) {
        response.writeHead(200, { 'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream', ...extraHeaders });
        response.end(readFileSync(file));
        return;
      }
    }
    response.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export class BrowserSession {
  // options: build (build dir), policy (object), pageRoots (dirs to serve), keys (fixture names)
  static async start(options) {
    const session = new BrowserSession(options);
    try {
      await session.#start();
    } catch (e) {
      await session.close(); // what was started so far, by pid
      throw e;
    }
    return session;
  }

  // manifestIds: extension ids for the host manifest (default: what the policy or build allows)
  // show: a visible browser window (needs a display) instead of headless
  // browser: 'chromium', or 'none' (token, agent environment, manifests and pages only)
  // policy: the agent's policy, or a function of the session that gives it once the pages' server listens
  // managed: {chromiumPolicy} for a managed Chromium (see above); beforeLaunch(session): runs just before the browser starts
  // installed: the directory of installed p2pcp, p2pcp-native-host and p2pcp-agent (the
  //   package test); test-only tools still come from the build. An installed release
  //   build reads only the system policy, so `policy` cannot be given then.
  // defaultKey: agent.json's defaultKey (default: the first key; null: none)
  // agentConfig: more members of agent.json (e.g. {webSocket: {port}})
  // extension: false launches Chromium without the extension (the WebSocket front door's pages)
  // browserArgs: more Chromium arguments
  constructor({ build, installed = null, policy = null, pageRoots = [path.join(here, 'pages')], keys = ['p256'], defaultKey, manifestIds = [], show = false, extraEnv = {}, browser = 'chromium', managed = null, beforeLaunch = async () => {}, agentConfig = {}, extension = true, browserArgs = [] }) {
    this.show = show;
    this.browser = browser;
    this.reports = [];
    this.extraEnv = extraEnv;
    this.tools = path.resolve(build, 'bin');
    this.bin = installed ? path.resolve(installed) : this.tools;
    if (installed && policy) throw new Error('an installed release build ignores P2PCP_POLICY');
    this.installed = installed !== null;
    this.manifestIds = manifestIds;
    this.policy = policy;
    this.managed = managed;
    this.beforeLaunch = beforeLaunch;
    this.pageRoots = pageRoots;
    this.agentConfig = agentConfig;
    this.extension = extension;
    this.browserArgs = browserArgs;
    this.keys = keys;
    this.defaultKey = defaultKey === undefined ? `pkcs11:object=fixture-${keys[0]}` : defaultKey;
    this.home = mkdtempSync(path.join(tmpdir(), 'p2pcp-browser-'));
    this.agentPids = new Set();
  }

  async #start() {
    const h = this.home;
    this.server = await serveStatic(this.pageRoots, (report) => this.reports.push(report));
    this.port = this.server.address().port;
    if (typeof this.policy === 'function') this.policy = this.policy(this);
    for (const dir of ['tokens', 'config/p2pcp', 'run', 'profile', 'namespace']) mkdirSync(path.join(h, dir), { recursive: true });
    chmodSync(path.join(h, 'run'), 0o700);
    writeFileSync(path.join(h, 'softhsm2.conf'),
      `directories.tokendir = ${h}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
    this.pinFile = path.join(h, 'pin');
    this.confirmFile = path.join(h, 'confirm');
    this.setPin(PIN);
    this.setConsent('yes');
    if (this.policy) writeFileSync(path.join(h, 'policy.json'), JSON.stringify(this.policy));
    writeFileSync(path.join(h, 'config/p2pcp/agent.json'),
      JSON.stringify({ ...(this.defaultKey === null ? {} : { defaultKey: this.defaultKey }), ...this.agentConfig }));
    this.env = {
      PATH: process.env.PATH,
      HOME: h,
      XDG_CONFIG_HOME: path.join(h, 'config'),
      XDG_RUNTIME_DIR: path.join(h, 'run'),
      SOFTHSM2_CONF: path.join(h, 'softhsm2.conf'),
      P2PCP_PKCS11_MODULE: MODULE,
      P2PCP_AGENT_SOCK: path.join(h, 'run/agent.sock'),
      P2PCP_PINENTRY: path.join(this.tools, 'p2pcp-scripted-pinentry'),
      P2PCP_TEST_PIN_FILE: this.pinFile,
      P2PCP_TEST_CONFIRM_FILE: this.confirmFile,
      P2PCP_TEST_PINENTRY_LOG: path.join(h, 'pinentry.log'),
    };
    if (!this.installed) this.env.P2PCP_POLICY = path.join(h, 'policy.json');
    Object.assign(this.env, this.extraEnv);
    for (const name of ['ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS']) {
      if (process.env[name]) this.env[name] = process.env[name]; // sanitizer builds of host and agent
    }
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'p2pcp-test', '--pin', PIN, '--so-pin', '5678'],
      { env: this.env, stdio: 'ignore' });
    this.keys.forEach((name, i) => {
      execFileSync(path.join(this.tools, 'p2pcp-token-import'), ['--module', MODULE, '--token', 'p2pcp-test', '--pin', PIN,
        '--label', `fixture-${name}`, '--id', `0${i + 1}`, path.join(sourceDir, 'tests/fixtures', `${name}.pem`)],
      { env: this.env, stdio: 'ignore' });
    });
    const ids = this.manifestIds.flatMap((id) => ['--extension-id', id]);
    if (this.managed) {
      this.mounts = await PrivateMounts.create(path.join(h, 'namespace'));
      this.hostInstall = this.mounts.run(path.join(this.bin, 'p2pcp'), ['install-browser-hosts', '--system', '--json', ...ids],
        { env: this.env });
      this.mounts.writeFile('/etc/chromium/policies/managed/p2pcp.json', JSON.stringify(this.managed.chromiumPolicy, null, 2));
    } else {
      const hostScope = this.browser === 'chromium' ? ['--user-data-dir', path.join(h, 'profile')] : [];
      execFileSync(path.join(this.bin, 'p2pcp'), ['install-browser-hosts', ...hostScope, ...ids],
        { env: this.env, stdio: 'ignore' });
    }
    if (this.browser !== 'chromium') return;
    await this.beforeLaunch(this);
    const extension = path.join(sourceDir, 'browser-extension');
    // A managed browser installs the extension from the policy's update URL:
    // no unpacked extension, and background networking (the extension updater) on.
    let extensionArgs = this.managed ? [] : ['--disable-background-networking',
      `--disable-extensions-except=${extension}`, `--load-extension=${extension}`];
    if (!this.extension) extensionArgs = ['--disable-background-networking', '--disable-extensions'];
    this.context = await chromium.launchPersistentContext(path.join(h, 'profile'), {
      executablePath: this.managed ? this.mounts.wrapper(CHROMIUM) : CHROMIUM,
      headless: false, // --headless=new below: the old headless mode has no extensions
      ignoreDefaultArgs: ['--disable-extensions', '--disable-background-networking'],
      args: [...(this.show ? [] : ['--headless=new']), '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-component-update', '--disable-sync', ...extensionArgs, ...this.browserArgs],
      env: { ...this.env, ...(this.show ? { DISPLAY: process.env.DISPLAY, WAYLAND_DISPLAY: process.env.WAYLAND_DISPLAY ?? '' } : {}) },
    });
  }

  // The two origins the tests use: http://127.0.0.1:PORT and http://localhost:PORT.
  origin(which = 'a') {
    return `http://${which === 'a' ? '127.0.0.1' : 'localhost'}:${this.port}`;
  }

  setPin(pin) { writeFileSync(this.pinFile, `${pin}\n`); }
  setConsent(answer) { writeFileSync(this.confirmFile, `${answer}\n`); }

  async openPage(which = 'a', file = 'index.html') {
    const page = await this.context.newPage();
    await page.goto(`${this.origin(which)}/${file}`);
    await page.waitForFunction(() => window.p2pcp !== undefined, null, { timeout: 10000 });
    return page;
  }

  // Runs `window.p2pcp.<method>(...args)` in the page (or frame): {result} or
  // {error: {code, message, data}}. In the arguments, {$bytes: text} stands for
  // the UTF-8 bytes of text and {$hex: digits} for those bytes, at any depth of
  // plain objects and arrays; in the result every Uint8Array comes back as
  // {$hex: digits}.
  async call(page, method, ...args) {
    return page.evaluate(async ({ method, args }) => {
      const bytes = (v) => {
        if (!v || typeof v !== 'object') return v;
        if (Array.isArray(v)) return v.map(bytes);
        if (v.$bytes !== undefined) return new TextEncoder().encode(v.$bytes);
        if (v.$hex !== undefined) return window.p2pcp.fromHex(v.$hex);
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytes(x)]));
      };
      const plain = (v) => {
        if (v instanceof Uint8Array) return { $hex: window.p2pcp.toHex(v) };
        if (v instanceof Error) return { error: { code: v.code, message: v.message, data: v.data } };
        if (Array.isArray(v)) return v.map(plain);
        if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
        return v;
      };
      try {
        return { result: plain(await window.p2pcp[method](...args.map(bytes))) };
      } catch (e) {
        return { error: { code: e.code, message: e.message, data: e.data } };
      }
    }, { method, args });
  }

  // Starts the agent as the CLI does (without the extension nobody else does)
  // and remembers its pid; `p2pcp status --json` as an object.
  startAgent() {
    const r = spawnSync(path.join(this.bin, 'p2pcp'), ['status', '--json'], { env: this.env });
    if (r.status !== 0) throw new Error(`p2pcp status: ${r.stderr}`);
    const status = JSON.parse(r.stdout.toString());
    this.agentPids.add(status.pid);
    return status;
  }

  // The CLI against the same agent (local caller).
  cli(args) {
    const r = spawnSync(path.join(this.bin, 'p2pcp'), args, { env: { ...this.env, P2PCP_NO_AUTOSTART: '1' } });
    return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  // The pid of the agent the host started (remembered, to stop it in close()).
  agentPid() {
    const r = this.cli(['status', '--json']);
    if (r.status !== 0) return null;
    const pid = JSON.parse(r.stdout).pid;
    this.agentPids.add(pid);
    return pid;
  }

  pinentryLog() {
    const file = this.env.P2PCP_TEST_PINENTRY_LOG;
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  }

  agentLog() {
    const file = path.join(this.home, 'run/agent.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  async close() {
    this.agentPid();
    await this.context?.close().catch(() => {});
    this.mounts?.close();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve()));
    for (const pid of this.agentPids) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
      for (let i = 0; i < 50; i++) {
        try { process.kill(pid, 0); } catch { break; }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}
