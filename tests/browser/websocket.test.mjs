// SPDX-License-Identifier: Apache-2.0
// The agent's WebSocket front door as an app developer meets it, in Debian's
// Chromium WITHOUT the extension: a page served from http://127.0.0.1 includes
// p2pcp-core.js and p2pcp-ws.js (clients/), connects to the real agent (its
// agent.json turns the front door on, on a free port), pairs (the scripted
// pinentry confirms and logs the dialog's words: the code the page showed is
// the dialog's code), asks for access, derives a storage key, signs a block and
// verifies it with WebCrypto in the page. An unpaired origin gets NOT_PAIRED; a
// revoked pairing closes the page's connection; P2pcpWs has window.p2pcp's
// methods, and the example app runs on it unchanged. Chromium's Local Network
// Access checks: a public page cannot reach the door unless the person allows it.
//   node --test tests/browser/websocket.test.mjs   with P2PCP_BUILD=<build dir>
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as scheme from '../independent/p2pcp-scheme.mjs';
import { BrowserSession, missingPrerequisite, serveStatic, sourceDir } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = process.env.P2PCP_BUILD ?? path.join(sourceDir, 'out/build/dev');
const TSC = path.join(here, 'node_modules/.bin/tsc');
const skip = missingPrerequisite() ?? false;
const spki = crypto.createPublicKey(crypto.createPrivateKey(readFileSync(path.join(sourceDir, 'tests/fixtures/p256.pem'))))
  .export({ type: 'spki', format: 'der' });

// A port nothing listens on now (the kernel's choice, then closed).
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// What the page serves: the test pages, the shared core and page-api.js
// (browser-extension/), p2pcp-ws.js (clients/), and the example app compiled by tsc.
const appBuild = mkdtempSync(path.join(tmpdir(), 'p2pcp-ws-app-'));
const pageRoots = [path.join(here, 'pages'), path.join(sourceDir, 'browser-extension'), path.join(sourceDir, 'clients'),
  appBuild];

let session;
let port;
let unusedPort; // nothing listens there
let publicServer; // pages Chromium is told to treat as a public web site (Local Network Access)
before(async () => {
  if (skip) return;
  execFileSync(TSC, ['-p', path.join(sourceDir, 'examples/first-app'), '--outDir', path.join(appBuild, 'first-app/build')]);
  for (const file of ['examples/first-app/index.html', 'browser-extension/p2pcp-core.js', 'clients/p2pcp-ws.js']) {
    copyFileSync(path.join(sourceDir, file), path.join(appBuild, 'first-app', path.basename(file)));
  }
  port = await freePort();
  unusedPort = await freePort();
  publicServer = await serveStatic(pageRoots);
  // Not a weakening: this flag makes Chromium treat the one test server's
  // address as the public internet, so that its Local Network Access checks
  // apply to that server's pages as they would to a real web site's.
  session = await BrowserSession.start({
    build, pageRoots, extension: false, agentConfig: { webSocket: { port } },
    browserArgs: [`--ip-address-space-overrides=127.0.0.1:${publicServer.address().port}=public`],
  });
  const status = session.startAgent();
  assert.deepEqual(status.webSocket, { state: 'listening', port, url: `ws://127.0.0.1:${port}`, setBy: 'agent.json' });
});
after(async () => {
  await session?.close();
  await new Promise((resolve) => (publicServer ? publicServer.close(resolve) : resolve()));
  rmSync(appBuild, { recursive: true, force: true });
});

async function openWsPage(which = 'a', file = 'ws.html') {
  const page = await session.context.newPage();
  await page.goto(`${session.origin(which)}/${file}`);
  await page.waitForFunction(() => window.P2pcpWs !== undefined, null, { timeout: 10000 });
  return page;
}

test('the declarations type-check, and the same app code takes either transport', { skip }, () => {
  execFileSync(TSC, ['--noEmit', '-p', path.join(sourceDir, 'examples/first-app')], { stdio: 'pipe' });
  execFileSync(TSC, ['--noEmit', '-p', path.join(here, 'types')], { stdio: 'pipe' });
});

test('without the extension, a page pairs (its code is the dialog\'s), gets access, signs, and verifies in the page', { skip }, async () => {
  session.setConsent('yes');
  const page = await openWsPage('a');
  const outcome = await page.evaluate(async (port) => {
    const out = { hasExtensionApi: window.p2pcp !== undefined, codes: [] };
    const p2pcp = await window.P2pcpWs.connect({ port, onPairingCode: (code, info) => {
      out.codes.push({ code, expiresIn: info.expiresIn });
      document.getElementById('code').textContent = code;
    } });
    out.url = p2pcp.url;
    const before = await p2pcp.hello();
    out.before = { paired: before.paired, access: before.access, methods: before.methods };
    out.identityBefore = await p2pcp.identity().then(() => 'OK', (e) => e.code);
    out.pair = await p2pcp.pair();
    out.pairAgain = await p2pcp.pair(); // paired: at once, no dialog
    const after = await p2pcp.hello();
    out.after = { paired: after.paired, access: after.access };
    out.grant = await p2pcp.requestAccess('site');
    const identity = await p2pcp.identity();
    const enc = new TextEncoder();
    const uri = `${location.origin}/scores`;
    const storageKey = await p2pcp.publicStorageKey(uri);
    const payload = enc.encode('a block signed through the front door');
    const block = await p2pcp.signBlock({ uri, kind: 'public', seq: 7n, payload });
    const seq = new Uint8Array(8);
    new DataView(seq.buffer).setBigUint64(0, 7n);
    const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', payload));
    const message = new Uint8Array([...enc.encode('p2pcp/v1/block\0'), ...block.storageKey, ...seq, ...hash]);
    const key = await crypto.subtle.importKey('spki', identity.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    out.verified = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, block.signature, message);
    out.p1363 = block.signature.length === 64 && block.signature instanceof Uint8Array;
    out.sameStorageKey = p2pcp.toHex(block.storageKey) === p2pcp.toHex(storageKey);
    out.storageKey = p2pcp.toHex(storageKey);
    out.fingerprint = identity.fingerprint === p2pcp.toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', identity.spki)));
    out.shown = document.getElementById('code').textContent;
    p2pcp.close();
    out.afterClose = await p2pcp.hello().then(() => 'OK', (e) => e.code);
    return out;
  }, port);
  assert.equal(outcome.hasExtensionApi, false, 'no extension in this browser');
  assert.equal(outcome.url, `ws://127.0.0.1:${port}/`);
  assert.deepEqual(outcome.before, { paired: false, access: 'none', methods: ['hello', 'pair'] });
  assert.equal(outcome.identityBefore, 'NOT_PAIRED');
  assert.equal(outcome.pair.paired, true);
  assert.equal(outcome.pairAgain.paired, true);
  assert.deepEqual(outcome.after, { paired: true, access: 'none' }, 'pairing is not consent');
  assert.equal(outcome.grant.access, 'site');
  assert.equal(outcome.codes.length, 1, `one code, one dialog: ${JSON.stringify(outcome.codes)}`);
  const { code, expiresIn } = outcome.codes[0];
  assert.match(code, /^[0-9]{3}-[0-9]{3}$/);
  assert.equal(expiresIn, 120);
  assert.equal(outcome.shown, code);
  // The dialog the person saw names the page's origin and the same code.
  const log = session.pinentryLog();
  const titles = log.filter((l) => l.cmd === 'SETTITLE').map((l) => l.arg);
  const descriptions = log.filter((l) => l.cmd === 'SETDESC').map((l) => l.arg);
  const pairing = descriptions.filter((d) => /pair/i.test(d));
  assert.equal(pairing.length, 1, `one pairing dialog: ${JSON.stringify(descriptions)}`);
  assert.ok(pairing[0].includes(code), `the dialog shows ${code}: ${pairing[0]}`);
  assert.ok(pairing[0].includes(session.origin('a')), `the dialog names the origin: ${pairing[0]}`);
  assert.ok(titles.includes('Pair a web page with p2pcp'), JSON.stringify(titles));
  assert.equal(outcome.verified, true, 'the block signature verifies with WebCrypto');
  assert.equal(outcome.p1363, true);
  assert.equal(outcome.sameStorageKey, true);
  assert.equal(outcome.fingerprint, true);
  assert.equal(outcome.storageKey, scheme.publicStorageKey(spki, `${session.origin('a')}/scores`).toString('hex'),
    'the storage key of the independent scheme implementation');
  assert.equal(outcome.afterClose, 'AGENT_UNAVAILABLE');
  const pairings = JSON.parse(session.cli(['pairings', '--json']).stdout);
  assert.ok(JSON.stringify(pairings).includes(session.origin('a')), JSON.stringify(pairings));
  await page.close();
});

test('an unpaired origin gets NOT_PAIRED for everything but hello and pair; bad inputs and a closed door are typed', { skip }, async () => {
  const page = await openWsPage('b'); // http://localhost:PORT: another origin, never paired
  const outcome = await page.evaluate(async ([port, unusedPort]) => {
    const codeOf = (e) => ({ code: e.code, field: e.data?.field, isP2pcpError: e instanceof window.P2pcpWs.P2pcpError });
    const out = {};
    const connect = (options) => window.P2pcpWs.connect(options).then(() => 'OK', codeOf);
    // Without a port: the documented default, 24872 (an agent may or may not listen there).
    const target = (options) => window.P2pcpWs.connect(options).then(
      (p2pcp) => { p2pcp.close(); return { opened: p2pcp.url }; },
      (e) => ({ code: e.code, url: e.data?.url }));
    out.defaultPort = window.P2pcpWs.defaultPort;
    out.noOptions = await target();
    out.noPort = await target({ timeout: 5000 });
    out.portNull = await connect({ port: null });
    out.notAnObject = await connect('24872');
    out.portZero = await connect({ port: 0 });
    out.portString = await connect({ port: String(port) });
    out.badHost = await connect({ port, host: 'evil.example' });
    out.unknownOption = await connect({ port, origin: 'https://bank.example' });
    out.badCallback = await connect({ port, onPairingCode: 'show it' });
    out.nothingThere = await window.P2pcpWs.connect({ port: unusedPort, timeout: 5000 }).then(() => 'OK', codeOf);
    const p2pcp = await window.P2pcpWs.connect({ port, host: 'localhost' });
    const hello = await p2pcp.hello();
    out.hello = { paired: hello.paired, access: hello.access, methods: hello.methods, keys: Object.keys(hello).sort() };
    for (const [name, call] of Object.entries({
      identity: () => p2pcp.identity(),
      listKeys: () => p2pcp.listKeys(),
      requestAccess: () => p2pcp.requestAccess('site'),
      signBlock: () => p2pcp.signBlock({ uri: `${location.origin}/x`, kind: 'public', seq: 1, payload: new Uint8Array(1) }),
      deriveStorageKeys: () => p2pcp.deriveStorageKeys(['/a', '/b'], { kind: 'private' }),
    })) {
      out[name] = await call().then(() => 'OK', codeOf);
    }
    // Checked in the page before anything is sent, as with window.p2pcp.
    out.badSeq = await p2pcp.signBlock({ uri: '/x', kind: 'public', seq: -1, payload: new Uint8Array(1) }).then(() => 'OK', codeOf);
    out.pairWithoutCode = await p2pcp.pair().then(() => 'OK', codeOf);
    p2pcp.close();
    return out;
  }, [port, unusedPort]);
  assert.equal(outcome.defaultPort, 24872);
  for (const name of ['noOptions', 'noPort']) {
    const got = outcome[name];
    if (got.opened) {
      assert.equal(got.opened, 'ws://127.0.0.1:24872/', name);
    } else {
      assert.deepEqual(got, { code: 'AGENT_UNAVAILABLE', url: 'ws://127.0.0.1:24872/' }, name);
    }
  }
  assert.deepEqual(outcome.portNull, { code: 'BAD_REQUEST', field: 'options.port', isP2pcpError: true });
  assert.deepEqual(outcome.notAnObject, { code: 'BAD_REQUEST', field: 'options', isP2pcpError: true });
  assert.deepEqual(outcome.portZero, { code: 'BAD_REQUEST', field: 'options.port', isP2pcpError: true });
  assert.deepEqual(outcome.portString, { code: 'BAD_REQUEST', field: 'options.port', isP2pcpError: true });
  assert.deepEqual(outcome.badHost, { code: 'BAD_REQUEST', field: 'options.host', isP2pcpError: true });
  assert.deepEqual(outcome.unknownOption, { code: 'BAD_REQUEST', field: 'options.origin', isP2pcpError: true });
  assert.deepEqual(outcome.badCallback, { code: 'BAD_REQUEST', field: 'options.onPairingCode', isP2pcpError: true });
  assert.deepEqual(outcome.nothingThere, { code: 'AGENT_UNAVAILABLE', field: undefined, isP2pcpError: true });
  assert.deepEqual(outcome.hello.methods, ['hello', 'pair']);
  assert.equal(outcome.hello.paired, false);
  assert.equal(outcome.hello.access, 'none');
  // Nothing about the person before pairing: only what every agent of this version says.
  assert.deepEqual(outcome.hello.keys, ['access', 'agent', 'batchLimits', 'keyTypes', 'maxRequestBytes', 'methods',
    'notifications', 'paired', 'protocol', 'version']);
  for (const name of ['identity', 'listKeys', 'requestAccess', 'signBlock', 'deriveStorageKeys']) {
    assert.deepEqual(outcome[name], { code: 'NOT_PAIRED', field: undefined, isP2pcpError: true }, name);
  }
  assert.deepEqual(outcome.badSeq, { code: 'BAD_REQUEST', field: 'block.seq', isP2pcpError: true });
  assert.deepEqual(outcome.pairWithoutCode, { code: 'BAD_REQUEST', field: 'options.onPairingCode', isP2pcpError: true });
  assert.ok(!JSON.stringify(session.pinentryLog()).includes(session.origin('b')), 'no dialog for the unpaired origin');
  await page.close();
});

test('P2pcpWs has window.p2pcp\'s methods (and pair, close); the example app runs on it unchanged', { skip }, async () => {
  const shape = await session.context.newPage();
  await shape.goto(`${session.origin('a')}/ws-shape.html`);
  const names = await shape.evaluate(async (port) => {
    const methods = (object) => {
      const found = new Set();
      for (let o = object; o && o !== EventTarget.prototype && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
        for (const name of Object.getOwnPropertyNames(o)) {
          if (name !== 'constructor' && typeof Object.getOwnPropertyDescriptor(o, name).value === 'function') found.add(name);
        }
      }
      return [...found].sort();
    };
    const ws = await window.P2pcpWs.connect({ port });
    const out = { extension: methods(window.p2pcp), ws: methods(ws), coreGone: window.P2pcpCore === undefined };
    ws.close();
    return out;
  }, port);
  assert.ok(names.extension.includes('signBlock') && names.extension.includes('P2pcpError'), JSON.stringify(names.extension));
  assert.deepEqual(names.ws, [...names.extension, 'close', 'pair'].sort());
  assert.equal(names.coreGone, true, 'page-api.js takes the core off the page\'s globals');
  await shape.close();

  // examples/first-app, compiled by tsc, with ?p2pcp-port=N: the page pairs
  // (or is paired) and then runs the same calls as with the extension.
  session.setConsent('yes');
  const page = await session.context.newPage();
  await page.goto(`${session.origin('a')}/first-app/index.html?p2pcp-port=${port}`);
  await page.waitForFunction(() => window.firstApp !== undefined && window.P2pcpWs !== undefined, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.p2pcp), undefined);
  assert.equal(await page.evaluate(() => window.firstApp.saveNote()), true, 'saved, and the block verifies');
  assert.equal(await page.evaluate(() => window.firstApp.loadNote()), 'my first private note');
  assert.match(await page.textContent('#who'), /fixture-p256 \(ec-p256/);
  await page.close();
});

test('a revoked pairing closes the page\'s connection: typed errors, and NOT_PAIRED after reconnecting', { skip }, async () => {
  const page = await openWsPage('a');
  await page.evaluate(async (port) => {
    window.closes = [];
    window.ws = await window.P2pcpWs.connect({ port });
    window.ws.addEventListener('close', (event) => window.closes.push(event.detail));
    window.helloBefore = await window.ws.hello();
  }, port);
  assert.equal(await page.evaluate(() => window.helloBefore.paired), true, 'paired by the first test');
  const revoked = session.cli(['pairings', 'revoke', session.origin('a')]);
  assert.equal(revoked.status, 0, revoked.stderr);
  await page.waitForFunction(() => window.closes.length > 0, null, { timeout: 10000 });
  const outcome = await page.evaluate(async (port) => {
    const codeOf = (e) => ({ code: e.code, closeReason: e.data?.closeReason, closeCode: e.data?.closeCode });
    const out = { closes: window.closes, closed: window.ws.closed };
    out.next = await window.ws.identity().then(() => 'OK', codeOf);
    out.pairOnClosed = await window.ws.pair({ onPairingCode: () => {} }).then(() => 'OK', codeOf);
    const again = await window.P2pcpWs.connect({ port });
    out.hello = (await again.hello()).paired;
    out.identity = await again.identity().then(() => 'OK', codeOf);
    again.close();
    return out;
  }, port);
  assert.deepEqual(outcome.closes, [{ code: 1008, reason: 'pairing revoked' }]);
  assert.equal(outcome.closed, true);
  assert.deepEqual(outcome.next, { code: 'AGENT_UNAVAILABLE', closeReason: 'pairing revoked', closeCode: 1008 });
  assert.deepEqual(outcome.pairOnClosed, { code: 'AGENT_UNAVAILABLE', closeReason: 'pairing revoked', closeCode: 1008 });
  assert.equal(outcome.hello, false);
  assert.deepEqual(outcome.identity, { code: 'NOT_PAIRED', closeReason: undefined, closeCode: undefined });
  // Pairing is not consent: the origin's consent is still there.
  const consents = JSON.parse(session.cli(['consents', '--json']).stdout).map((c) => c.origin);
  assert.ok(consents.includes(session.origin('a')), JSON.stringify(consents));
  await page.close();
});

test('a refused pairing is CONSENT_DENIED, remembered without a second dialog', { skip }, async () => {
  session.setConsent('no');
  const page = await openWsPage('b');
  const confirmsBefore = session.pinentryLog().filter((l) => l.cmd === 'CONFIRM').length;
  const outcome = await page.evaluate(async (port) => {
    const p2pcp = await window.P2pcpWs.connect({ port, host: 'localhost', onPairingCode: () => {} });
    const first = await p2pcp.pair().then(() => 'OK', (e) => e.code);
    const second = await p2pcp.pair().then(() => 'OK', (e) => e.code);
    p2pcp.close();
    return { first, second };
  }, port);
  assert.deepEqual(outcome, { first: 'CONSENT_DENIED', second: 'CONSENT_DENIED' });
  assert.equal(session.pinentryLog().filter((l) => l.cmd === 'CONFIRM').length, confirmsBefore + 1, 'one dialog');
  session.setConsent('yes');
  await page.close();
});

test('Local Network Access: a public page reaches the front door only once the person allows it', { skip }, async () => {
  const origin = `http://127.0.0.1:${publicServer.address().port}`;
  const page = await session.context.newPage();
  await page.goto(`${origin}/ws.html`);
  const attempt = () => page.evaluate(async (port) => {
    const started = performance.now();
    const outcome = await window.P2pcpWs.connect({ port, timeout: 20000 }).then(async (p2pcp) => {
      const hello = await p2pcp.hello();
      p2pcp.close();
      return `hello: paired ${hello.paired}`;
    }, (e) => e.code);
    return { outcome, ms: performance.now() - started };
  }, port);
  // Headless Chromium has no one to ask: the permission prompt is denied.
  const blocked = await attempt();
  assert.equal(blocked.outcome, 'AGENT_UNAVAILABLE');
  assert.ok(blocked.ms < 10000, `settled in ${blocked.ms} ms`);
  // What the person's "Allow" gives the origin.
  await session.context.grantPermissions(['local-network-access'], { origin });
  assert.deepEqual((await attempt()).outcome, 'hello: paired false');
  await page.close();
});
