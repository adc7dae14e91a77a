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

// Runs pages/auto.html in headless Firefox; returns what the page reported.
async function runInFirefox(session) {
  const firefox = spawn(WEB_EXT, ['run', '--source-dir', path.join(sourceDir, 'browser-extension'),
    '--firefox', FIREFOX, '--start-url', `${session.origin('a')}/auto.html`, '--no-input', '--no-reload'],
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

test('Firefox: the page gets identity, storage keys, a login for its own origin and seal/open', { skip }, async () => {
  const session = await BrowserSession.start({ build, browser: 'none' });
  try {
    const { origin, results } = await runInFirefox(session);
    assert.equal(origin, session.origin('a'));
    for (const [name, outcome] of Object.entries(results)) {
      assert.ok(outcome.result !== undefined, `${name}: ${JSON.stringify(outcome.error)}`);
    }
    assert.equal(results.identity.result.spki, spki.toString('base64'));
    assert.equal(results.publicStorageKey.result, scheme.publicStorageKey(spki, '/profile').toString('hex'));
    // Site access: the page's private keys live in its origin's own space.
    assert.equal(results.privateStorageKey.result,
      scheme.privateStorageKey(scheme.originRoot(root, session.origin('a')), '/notes').toString('hex'));
    const nonce = Buffer.from('0123456789abcdef');
    const expected = scheme.loginMessage(session.origin('a'), 'wss://index.example/', nonce, 1);
    assert.deepEqual(Buffer.from(results.signLogin.result.message, 'base64'), expected);
    assert.ok(crypto.verify('sha256', expected, crypto.createPublicKey(privateKey),
      Buffer.from(results.signLogin.result.signature, 'base64')));
    // An origin the page slips into signLogin's options is not the one signed.
    assert.deepEqual(Buffer.from(results.forgedLogin.result.message, 'base64'), expected);
    assert.equal(results.sealOpen.result, 'notes');
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
