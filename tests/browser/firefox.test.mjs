// SPDX-License-Identifier: Apache-2.0
// The page checks in Debian's Firefox ESR, headless: web-ext (npm) loads the
// extension as a temporary add-on in a fresh profile, Firefox finds the host
// through the per-user manifest `p2pcp install-browser-hosts` wrote (it passes
// the manifest path and the add-on id), the host starts the agent, and the
// page pages/auto.html runs the checks by itself and POSTs them to the test.
//   node --test tests/browser/firefox.test.mjs   with P2PCP_BUILD=<build dir>
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as scheme from '../independent/p2pcp-scheme.mjs';
import { BrowserSession, sourceDir } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = process.env.P2PCP_BUILD ?? path.join(sourceDir, 'out/build/dev');
const FIREFOX = '/usr/bin/firefox-esr';
const WEB_EXT = path.join(here, 'node_modules/.bin/web-ext');
const skip = !existsSync(FIREFOX) ? `${FIREFOX} is not installed`
  : !existsSync(WEB_EXT) ? 'web-ext is not installed (npm ci in tests/browser)' : false;
const privateKey = crypto.createPrivateKey(readFileSync(path.join(sourceDir, 'tests/fixtures/p256.pem')));
const spki = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
const root = scheme.rootSecret(privateKey);

// Runs a page (pages/auto.html by default) in headless Firefox; returns what the page reported.
async function runInFirefox(session, page = 'auto.html') {
  const firefox = spawn(WEB_EXT, ['run', '--source-dir', path.join(sourceDir, 'browser-extension'),
    '--firefox', FIREFOX, '--start-url', `${session.origin('a')}/${page}`, '--no-input', '--no-reload'],
  { env: { ...session.env, MOZ_HEADLESS: '1' }, stdio: 'ignore', detached: true });
  try {
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline && session.reports.length === 0 && firefox.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(session.reports.length, 1, 'the page reported its results');
    return session.reports[0];
  } finally {
    // web-ext and the Firefox it started share a process group: stop it by its id.
    try { process.kill(-firefox.pid, 'SIGTERM'); } catch { /* already gone */ }
    await new Promise((resolve) => (firefox.exitCode !== null ? resolve() : firefox.once('exit', resolve)));
  }
}

const sealOpenChecked = (results) => assert.equal(results.sealOpen.result, 'notes');

test('Firefox: the page gets identity, storage keys, a login for its own origin and seal/open', { skip }, async () => {
  const session = await BrowserSession.start({ build, browser: 'none' });
  try {
    const { origin, results } = await runInFirefox(session);
    assert.equal(origin, session.origin('a'));
    // An origin the page slips into signLogin is refused before anything is sent.
    assert.equal(results.forgedLogin.error?.code, 'BAD_REQUEST');
    assert.equal(results.forgedLogin.error?.data?.field, 'login.origin');
    for (const [name, outcome] of Object.entries(results)) {
      if (name !== 'forgedLogin') assert.ok(outcome.result !== undefined, `${name}: ${JSON.stringify(outcome.error)}`);
    }
    const bytesOf = (value) => Buffer.from(value.$hex, 'hex');
    assert.deepEqual(bytesOf(results.identity.result.spki), spki);
    assert.equal(results.publicStorageKey.result.$hex, scheme.publicStorageKey(spki, '/profile').toString('hex'));
    // Site access: the page's private keys live in its origin's own space.
    assert.equal(results.privateStorageKey.result.$hex,
      scheme.privateStorageKey(scheme.originRoot(root, session.origin('a')), '/notes').toString('hex'));
    const nonce = Buffer.from('0123456789abcdef');
    const expected = scheme.loginMessage(session.origin('a'), 'wss://index.example/', nonce, 1);
    assert.deepEqual(bytesOf(results.signLogin.result.message), expected);
    assert.ok(crypto.verify('sha256', expected, { key: crypto.createPublicKey(privateKey), dsaEncoding: 'ieee-p1363' },
      bytesOf(results.signLogin.result.signature)), 'a P1363 signature');
    sealOpenChecked(results);
  } finally {
    await session.close();
  }
});

test('Firefox: a refused consent reaches the page as CONSENT_DENIED', { skip }, async () => {
  const session = await BrowserSession.start({ build, browser: 'none' });
  try {
    session.setConsent('no');
    const { results } = await runInFirefox(session);
    assert.equal(results.hello.result.protocol, 1, 'hello needs no consent');
    assert.equal(results.identity.error?.code, 'CONSENT_DENIED');
  } finally {
    await session.close();
  }
});

test('Firefox: frames speak as their own origin (srcdoc as its parent\'s); sandboxed, CSP-sandboxed, data: and srcdoc frames get NOT_ALLOWED', { skip }, async () => {
  const session = await BrowserSession.start({ build, browser: 'none' });
  try {
    const { frames } = await runInFirefox(session, 'frames.html?report=1');
    const byName = Object.fromEntries(frames.map((f) => [f.name, f]));
    for (const [name, origin] of [['same-origin', session.origin('a')], ['cross-origin', session.origin('b')], ['srcdoc', session.origin('a')]]) {
      const r = byName[name];
      assert.ok(r?.hasApi, `${name}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.login.result, { message: origin, verified: true }, `${name} signs as its own origin: ${JSON.stringify(r)}`);
      assert.equal(r.privateStorageKey.result,
        scheme.privateStorageKey(scheme.originRoot(root, origin), '/notes').toString('hex'), `${name}: its own space`);
    }
    for (const name of ['sandboxed', 'csp-sandbox', 'data-url', 'srcdoc-sandboxed']) {
      const r = byName[name];
      assert.ok(r, `${name} reported: ${JSON.stringify(Object.keys(byName))}`);
      assert.equal(r.selfOrigin, 'null', name);
      // A frame the extension does not reach has no window.p2pcp at all; one it reaches is refused at once.
      if (r.hasApi) {
        for (const call of ['hello', 'login', 'privateStorageKey', 'seal', 'badInput']) {
          assert.equal(r[call].error?.code, 'NOT_ALLOWED', `${name} ${call}: ${JSON.stringify(r[call])}`);
          assert.ok(r[call].ms < 1000, `${name} ${call} settled at once`);
        }
      }
    }
    assert.ok(byName.sandboxed.hasApi && byName['csp-sandbox'].hasApi, 'sandboxed frames with an http URL get the API (and NOT_ALLOWED)');
  } finally {
    await session.close();
  }
});

test('Firefox: a page under a CSP sandbox gets NOT_ALLOWED, and every bad input settles', { skip }, async () => {
  const session = await BrowserSession.start({ build, browser: 'none' });
  try {
    const { frames } = await runInFirefox(session, 'frame.html?name=csp-page&csp=sandbox&report=1');
    assert.equal(frames[0].selfOrigin, 'null');
    assert.equal(frames[0].hello.error?.code, 'NOT_ALLOWED', JSON.stringify(frames[0]));
    assert.equal(frames[0].login.error?.code, 'NOT_ALLOWED');
    session.reports.length = 0;
    const { battery } = await runInFirefox(session, 'battery.html?report=1');
    const wrong = battery.filter((o) => o.threw || !o.isPromise || o.hung || o.resolved || !o.isP2pcpError ||
      o.code !== o.expected.code || (o.expected.field !== undefined && o.field !== o.expected.field) || !o.nextOk);
    assert.ok(battery.length >= 90);
    assert.deepEqual(wrong, [], JSON.stringify(wrong, null, 1));
  } finally {
    await session.close();
  }
});
