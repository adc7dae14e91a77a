// SPDX-License-Identifier: Apache-2.0
// The page API as an app developer meets it, in Debian's Chromium with the
// real extension, native host, agent and SoftHSM2 token: every call settles
// (pages/battery.js sends the bad inputs), results verify with WebCrypto in
// the page, keys are listed and chosen by fingerprint, batches split and keep
// order, frames speak as their own origin and opaque origins get NOT_ALLOWED,
// and the example app (examples/first-app) type-checks with tsc and runs.
//   node --test tests/browser/pageapi.test.mjs   with P2PCP_BUILD=<build dir>
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as scheme from '../independent/p2pcp-scheme.mjs';
import { BrowserSession, missingPrerequisite, sourceDir, DEV_EXTENSION_ID } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = process.env.P2PCP_BUILD ?? path.join(sourceDir, 'out/build/dev');
const TSC = path.join(here, 'node_modules/.bin/tsc');
const skip = missingPrerequisite() ?? false;
const fixture = (name) => crypto.createPrivateKey(readFileSync(path.join(sourceDir, 'tests/fixtures', `${name}.pem`)));
const spkiOf = (key) => crypto.createPublicKey(key).export({ type: 'spki', format: 'der' });
const p256 = fixture('p256');
const p384 = fixture('p384');
const root = scheme.rootSecret(p256);
const hex = (bytes) => Buffer.from(bytes).toString('hex');

// The example app compiled by tsc, served as /first-app/ next to its index.html.
const appBuild = mkdtempSync(path.join(tmpdir(), 'p2pcp-first-app-'));

let session;
before(async () => {
  if (!skip) {
    execFileSync(TSC, ['-p', path.join(sourceDir, 'examples/first-app'), '--outDir', path.join(appBuild, 'first-app/build')]);
    copyFileSync(path.join(sourceDir, 'examples/first-app/index.html'), path.join(appBuild, 'first-app/index.html'));
    session = await BrowserSession.start({ build, pageRoots: [path.join(here, 'pages'), appBuild] });
  }
});
after(async () => {
  await session?.close();
  rmSync(appBuild, { recursive: true, force: true });
});

test('the declarations and the example app type-check with tsc, and misuse does not', async () => {
  execFileSync(TSC, ['--noEmit', '-p', path.join(sourceDir, 'examples/first-app')], { stdio: 'pipe' });
  // Every line marked @ts-expect-error there must be an error: tsc fails on one that is not.
  execFileSync(TSC, ['--noEmit', '-p', path.join(here, 'types')], { stdio: 'pipe' });
  // docs/page-api.md's walk-through shows the type-checked app as it is.
  const docs = readFileSync(path.join(sourceDir, 'docs/page-api.md'), 'utf8');
  const shown = docs.match(/## Build your first p2pcp app[\s\S]*?```ts\n([\s\S]*?)```/)?.[1];
  assert.equal(shown, readFileSync(path.join(sourceDir, 'examples/first-app/app.ts'), 'utf8'));
  // Every error code of the declarations is documented, and no other.
  const declarations = readFileSync(path.join(sourceDir, 'browser-extension/p2pcp.d.ts'), 'utf8');
  const declared = [...declarations.match(/type ErrorCode =([\s\S]*?);/)[1].matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]).sort();
  const table = docs.slice(docs.indexOf('## Error codes'), docs.indexOf('## Build your first p2pcp app'));
  const documented = [...table.matchAll(/^\| (.*?) \|/gm)].flatMap((m) => [...m[1].matchAll(/`([A-Z_]+)`/g)].map((c) => c[1])).sort();
  assert.deepEqual(documented, declared);
});

test('every bad input settles with a P2pcpError naming the field, and the next call works', { skip }, async () => {
  session.setConsent('yes');
  const page = await session.openPage('a', 'battery.html');
  const outcomes = await page.evaluate(() => window.runBattery());
  assert.ok(outcomes.length >= 90, `${outcomes.length} cases`);
  const wrong = outcomes.filter((o) => o.threw || !o.isPromise || o.hung || o.resolved || !o.isP2pcpError ||
    o.code !== o.expected.code || (o.expected.field !== undefined && o.field !== o.expected.field) || !o.nextOk ||
    o.ms > 10000);
  assert.deepEqual(wrong, [], `cases that did not settle as they should: ${JSON.stringify(wrong, null, 1)}`);
  console.log(`# ${outcomes.length} bad inputs settled, the slowest in ${Math.max(...outcomes.map((o) => o.ms))} ms`);
  await page.close();
});

test('results verify with WebCrypto in the page: keys, P1363 signatures, bigint seq, big payloads, seal/open', { skip }, async () => {
  session.setConsent('yes');
  const page = await session.openPage('a');
  const checks = await page.evaluate(async () => {
    const p2pcp = window.p2pcp;
    const enc = new TextEncoder();
    const cat = (...parts) => new Uint8Array(parts.flatMap((p) => [...p]));
    const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };
    const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
    const out = {};
    const identity = await p2pcp.identity();
    out.spkiIsBytes = identity.spki instanceof Uint8Array;
    out.fingerprint = identity.fingerprint === p2pcp.toHex(await sha256(identity.spki));
    const key = await crypto.subtle.importKey('spki', identity.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    const verify = (signature, message) => crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, signature, message);
    const uri = `${location.origin}/scores`;
    const publicKey = await p2pcp.publicStorageKey(uri);
    out.publicKey = same(publicKey, await sha256(cat(enc.encode('p2pcp/v1/public\0'), identity.spki, enc.encode(uri))));
    for (const [name, seq] of [['seq 7', 7], ['seq 2^60 (bigint)', 2n ** 60n], ['seq 2^64-1 (bigint)', 2n ** 64n - 1n]]) {
      const payload = enc.encode(`block ${name}`);
      const block = await p2pcp.signBlock({ uri, kind: 'public', seq, payload });
      out[name] = block.signature.length === 64 && same(block.storageKey, publicKey) &&
        await verify(block.signature, cat(enc.encode('p2pcp/v1/block\0'), block.storageKey, u64(seq), await sha256(payload)));
    }
    // 6 MiB: over the browser path's 4 MiB, so the page API sends its SHA-256.
    const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => i & 0xff);
    const bigBlock = await p2pcp.signBlock({ uri, kind: 'public', seq: 1, payload: big.buffer });
    out.bigPayload = await verify(bigBlock.signature, cat(enc.encode('p2pcp/v1/block\0'), publicKey, u64(1), await sha256(big)));
    const der = await p2pcp.signBlock({ uri, kind: 'public', seq: 1, payload: big.subarray(0, 10) }, { signatureFormat: 'der' });
    out.derOnRequest = der.signature[0] === 0x30;
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const login = await p2pcp.signLogin({ indexServer: 'wss://index.example/', nonce, timestamp: 1700000000n });
    out.login = login.message instanceof Uint8Array && await verify(login.signature, login.message) &&
      new TextDecoder().decode(login.message).startsWith(`p2pcp/v1/login\0${location.origin}\0wss://index.example/\0`);
    const sealed = await p2pcp.seal('/notes', enc.encode('private notes'));
    out.sealIsBytes = sealed instanceof Uint8Array;
    out.openIsBytes = new TextDecoder().decode(await p2pcp.open('/notes', sealed.buffer)) === 'private notes';
    const helpers = p2pcp.fromBase64(p2pcp.toBase64(sealed));
    out.helpers = same(helpers, sealed) && same(p2pcp.fromHex(p2pcp.toHex(sealed)), sealed);
    return out;
  });
  for (const [name, ok] of Object.entries(checks)) assert.equal(ok, true, name);
  await page.close();
});

test('hello lists what the page can call, by its page-API names, and the batch limits', { skip }, async () => {
  const page = await session.openPage('a');
  const hello = (await session.call(page, 'hello')).result;
  const pageNames = ['hello', 'requestAccess', 'listKeys', 'identity', 'publicStorageKey', 'privateStorageKey',
    'deriveStorageKeys', 'signBlock', 'signBlocks', 'signLogin', 'seal', 'open', 'sealMany', 'openMany', 'sign'];
  for (const name of hello.methods) assert.ok(pageNames.includes(name), `${name} is a page-API method`);
  for (const name of ['identity', 'signBlock', 'deriveStorageKeys', 'signBlocks', 'sealMany', 'openMany', 'listKeys']) {
    assert.ok(hello.methods.includes(name), `${name} is listed: ${hello.methods}`);
  }
  assert.ok(!hello.methods.includes('sign'), 'raw signing is off by default: not listed');
  assert.deepEqual(Object.keys(hello.batchLimits).sort(),
    ['batchBytes', 'deriveStorageKeys', 'openMany', 'sealMany', 'signBlocks']);
  await page.close();
});

test('batches: thousands of storage keys, hundreds of blocks and boxes, in order, with per-item errors', { skip }, async () => {
  session.setConsent('yes');
  const page = await session.openPage('a');
  const origin = session.origin('a');
  const outcome = await page.evaluate(async () => {
    const p2pcp = window.p2pcp;
    const enc = new TextEncoder();
    const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
    const uris = Array.from({ length: 5000 }, (_, i) => `/files/${i}`);
    uris[1234] = '/bad\uD800';
    const started = performance.now();
    const keys = await p2pcp.deriveStorageKeys(uris, { kind: 'private' });
    const deriveMs = performance.now() - started;
    const single = await p2pcp.privateStorageKey('/files/4999');
    const blocks = Array.from({ length: 300 }, (_, i) => ({ uri: `/doc/${i}`, kind: 'private', seq: i, payload: enc.encode(`doc ${i}`) }));
    blocks[7] = { ...blocks[7], seq: -1 };
    const signed = await p2pcp.signBlocks(blocks);
    // Each private block is signed by the write key of its uri (Ed25519): check a few with WebCrypto.
    const verified = [];
    for (const i of [0, 150, 299]) {
      const r = signed[i];
      const key = await crypto.subtle.importKey('spki', r.publicKey, { name: 'Ed25519' }, false, ['verify']);
      const seq = new Uint8Array(8);
      new DataView(seq.buffer).setBigUint64(0, BigInt(i));
      const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', blocks[i].payload));
      const message = new Uint8Array([...enc.encode('p2pcp/v1/block\0'), ...r.storageKey, ...seq, ...hash]);
      verified.push(r.algorithm === 'ed25519' && await crypto.subtle.verify('Ed25519', key, r.signature, message) &&
        same(r.storageKey, keys[0].storageKey) === false);
    }
    const items = Array.from({ length: 300 }, (_, i) => ({ uri: `/box/${i}`, plaintext: new Uint8Array(3000).fill(i & 0xff) }));
    const sealed = await p2pcp.sealMany(items);
    const boxes = sealed.map((r, i) => ({ uri: `/box/${i}`, sealed: r.sealed }));
    boxes[5] = { uri: '/box/6', sealed: sealed[5].sealed }; // the wrong uri: does not open
    const opened = await p2pcp.openMany(boxes);
    // Long uris: 1500 of 4000 bytes are 6 MB, over one request's 4 MiB.
    const longUris = Array.from({ length: 1500 }, (_, i) => `/${String(i).padStart(3999, 'x')}`);
    const longKeys = await p2pcp.deriveStorageKeys(longUris, { kind: 'public' });
    // An item over a request's byte budget fails alone; a 6 MiB block is hashed in the page.
    const oversized = await p2pcp.sealMany([{ uri: '/a', plaintext: new Uint8Array(600 * 1024) }, { uri: '/b', plaintext: new Uint8Array(1) }]);
    const bigSigned = await p2pcp.signBlocks([{ uri: '/big', kind: 'private', seq: 1, payload: new Uint8Array(6 * 1024 * 1024) }]);
    return {
      longKeys: [0, 1499].map((i) => p2pcp.toHex(longKeys[i].storageKey)),
      longUris: [longUris[0], longUris[1499]],
      oversized: [oversized[0].error?.code, oversized[1].sealed instanceof Uint8Array],
      bigSigned: bigSigned[0].signature?.length,
      count: keys.length,
      hex: keys.map((k) => (k.storageKey ? p2pcp.toHex(k.storageKey) : null)),
      badItem: { code: keys[1234].error?.code, field: keys[1234].error?.data?.field, isError: keys[1234].error instanceof p2pcp.P2pcpError },
      lastMatchesSingle: same(keys[4999].storageKey, single),
      deriveMs,
      signedCount: signed.length,
      badBlock: { code: signed[7].error?.code, field: signed[7].error?.data?.field },
      verified,
      sealedCount: sealed.filter((r) => r.sealed instanceof Uint8Array).length,
      openedOk: opened.every((r, i) => i === 5 || (r.plaintext instanceof Uint8Array && r.plaintext.length === 3000 && r.plaintext[0] === (i & 0xff))),
      wrongUri: opened[5].error?.code,
    };
  });
  const siteRoot = scheme.originRoot(root, origin);
  assert.equal(outcome.count, 5000);
  for (const i of [0, 1, 2047, 2048, 2049, 4096, 4999]) {
    assert.equal(outcome.hex[i], scheme.privateStorageKey(siteRoot, `/files/${i}`).toString('hex'), `uris[${i}] in order`);
  }
  assert.deepEqual(outcome.badItem, { code: 'BAD_REQUEST', field: 'uris[1234]', isError: true });
  assert.equal(outcome.hex[1234], null);
  assert.ok(outcome.lastMatchesSingle);
  assert.equal(outcome.signedCount, 300);
  assert.deepEqual(outcome.badBlock, { code: 'BAD_REQUEST', field: 'blocks[7].seq' });
  assert.deepEqual(outcome.verified, [true, true, true]);
  assert.equal(outcome.sealedCount, 300);
  assert.ok(outcome.openedOk, 'every other box opens to its own plaintext');
  assert.equal(outcome.wrongUri, 'OPEN_FAILED');
  const spki = spkiOf(p256);
  assert.deepEqual(outcome.longKeys, outcome.longUris.map((u) => scheme.publicStorageKey(spki, u).toString('hex')),
    'long uris split by request size, in order');
  assert.deepEqual(outcome.oversized, ['MESSAGE_TOO_LARGE', true]);
  assert.equal(outcome.bigSigned, 64, 'an Ed25519 signature over a 6 MiB block');
  console.log(`# 5000 private storage keys in one deriveStorageKeys call: ${Math.round(outcome.deriveMs)} ms`);
  await page.close();
});

test('frames speak as their own origin; sandboxed, CSP-sandboxed, data: and srcdoc frames get NOT_ALLOWED at once', { skip }, async () => {
  session.setConsent('yes');
  const page = await session.context.newPage();
  await page.goto(`${session.origin('a')}/frames.html`);
  const reports = await page.evaluate(() => window.frameReports);
  for (const [name, origin] of [['same-origin', session.origin('a')], ['cross-origin', session.origin('b')], ['srcdoc', session.origin('a')]]) {
    const r = reports[name];
    assert.ok(r?.hasApi, `${name}: window.p2pcp is there: ${JSON.stringify(r)}`);
    assert.equal(r.selfOrigin, origin); // a srcdoc frame has its parent's origin
    assert.deepEqual(r.login.result, { message: origin, verified: true }, `${name}: the login names the frame's origin: ${JSON.stringify(r)}`);
    assert.equal(r.privateStorageKey.result,
      scheme.privateStorageKey(scheme.originRoot(root, origin), '/notes').toString('hex'), `${name}: the frame's own space`);
    assert.equal(r.badInput.error?.code, 'BAD_REQUEST');
  }
  const consents = JSON.parse(session.cli(['consents', '--json']).stdout).map((c) => c.origin);
  assert.ok(consents.includes(session.origin('b')), 'the cross-origin frame asked for its own origin');
  for (const name of ['sandboxed', 'csp-sandbox', 'data-url', 'srcdoc-sandboxed']) {
    const r = reports[name];
    assert.ok(r?.hasApi, `${name}: window.p2pcp is there: ${JSON.stringify(r)}`);
    assert.equal(r.selfOrigin, 'null');
    for (const call of ['hello', 'login', 'privateStorageKey', 'seal', 'badInput']) {
      assert.equal(r[call].error?.code, 'NOT_ALLOWED', `${name} ${call}: ${JSON.stringify(r[call])}`);
      assert.ok(r[call].ms < 1000, `${name} ${call} settled at once (${r[call].ms} ms)`);
    }
  }
  await page.close();
  // A whole page under `Content-Security-Policy: sandbox`: its URL is http, its origin opaque.
  const sandboxed = await session.context.newPage();
  await sandboxed.goto(`${session.origin('a')}/frame.html?name=csp-page&csp=sandbox`);
  await sandboxed.waitForFunction(() => window.frameReport !== undefined, null, { timeout: 20000 });
  const report = await sandboxed.evaluate(() => window.frameReport);
  assert.equal(report.locationOrigin, session.origin('a'));
  assert.equal(report.selfOrigin, 'null');
  assert.equal(report.hello.error?.code, 'NOT_ALLOWED', JSON.stringify(report));
  assert.equal(report.login.error?.code, 'NOT_ALLOWED');
  await sandboxed.close();
});

test('the example app (examples/first-app) runs: it lists keys, seals, signs and verifies', { skip }, async () => {
  session.setConsent('yes');
  const page = await session.openPage('a', 'first-app/index.html');
  await page.waitForFunction(() => window.firstApp !== undefined && window.p2pcp !== undefined, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.firstApp.saveNote()), true, 'saved, and the block verifies');
  assert.equal(await page.evaluate(() => window.firstApp.loadNote()), 'my first private note');
  assert.match(await page.textContent('#who'), /fixture-p256 \(ec-p256/);
  await page.close();
});

test('several keys: a page lists them and chooses one by fingerprint; timeouts, aborts and an extension restart settle', { skip }, async () => {
  // No default key: KEY_AMBIGUOUS until the page names one. Dialogs take 1.5 s.
  const many = await BrowserSession.start({ build, keys: ['p256', 'p384'], defaultKey: null,
    extraEnv: { P2PCP_TEST_PINENTRY_DELAY_MS: '1500' } });
  try {
    const page = await many.openPage('a');
    // The consent dialog takes 1.5 s: a shorter timeout or an abort settles first.
    const early = await page.evaluate(async () => {
      const started = performance.now();
      const timedOut = await window.p2pcp.listKeys({ timeout: 300 }).catch((e) => e.code);
      const timeoutMs = performance.now() - started;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const aborted = await window.p2pcp.identity({ signal: controller.signal }).catch((e) => e.code);
      return { timedOut, timeoutMs, aborted };
    });
    assert.equal(early.timedOut, 'TIMEOUT');
    assert.ok(early.timeoutMs < 1200, `${early.timeoutMs} ms`);
    assert.equal(early.aborted, 'ABORTED');
    const ambiguous = await many.call(page, 'identity');
    assert.equal(ambiguous.error?.code, 'KEY_AMBIGUOUS', JSON.stringify(ambiguous));
    const keys = await many.call(page, 'listKeys');
    assert.equal(keys.result?.length, 2, JSON.stringify(keys));
    const byLabel = Object.fromEntries(keys.result.map((k) => [k.label, k]));
    for (const [label, key] of [['fixture-p256', p256], ['fixture-p384', p384]]) {
      const entry = byLabel[label];
      assert.deepEqual(Object.keys(entry).sort(), ['default', 'fingerprint', 'label', 'type'], 'no URI, no token serial with site access');
      assert.equal(entry.fingerprint, scheme.fingerprint(spkiOf(key)).toString('hex'));
      assert.equal(entry.default, false);
      const identity = await many.call(page, 'identity', { key: entry.fingerprint });
      assert.equal(identity.result?.spki.$hex, hex(spkiOf(key)), `${label} chosen by fingerprint`);
    }
    assert.ok(!JSON.stringify(keys.result).includes('p2pcp-test'), 'no token label');
    // A P-384 public block signed with the key the page chose, verified in the page.
    const verified = await page.evaluate(async (fingerprint) => {
      const p2pcp = window.p2pcp;
      const payload = new TextEncoder().encode('p384 block');
      const r = await p2pcp.signBlock({ uri: `${location.origin}/b`, kind: 'public', seq: 3, payload }, { key: fingerprint });
      const key = await crypto.subtle.importKey('spki', r.publicKey, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
      const seq = new Uint8Array(8);
      new DataView(seq.buffer).setBigUint64(0, 3n);
      const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', payload));
      const message = new Uint8Array([...new TextEncoder().encode('p2pcp/v1/block\0'), ...r.storageKey, ...seq, ...hash]);
      return r.signature.length === 96 && crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-384' }, key, r.signature, message);
    }, byLabel['fixture-p384'].fingerprint);
    assert.equal(verified, true);
    const unknown = await many.call(page, 'identity', { key: '0'.repeat(64) });
    assert.equal(unknown.error?.code, 'KEY_NOT_FOUND', JSON.stringify(unknown));

    // The extension restarts (an update) while a call waits on a dialog: the
    // call and the next ones settle with EXTENSION_UNAVAILABLE (the page's
    // bridge is gone until the page loads again). Last: the extension is
    // not back in this browser afterwards.
    assert.equal(many.cli(['consents', 'revoke', many.origin('a')]).status, 0); // the next call waits on a dialog
    await page.evaluate(() => {
      window.waiting = window.p2pcp.identity({ key: '0'.repeat(64) }).then(() => 'OK', (e) => e.code);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const popup = await many.context.newPage();
    await popup.goto(`chrome-extension://${DEV_EXTENSION_ID}/popup.html`);
    await popup.evaluate(() => chrome.runtime.reload()).catch(() => {}); // the popup goes away with it
    const afterRestart = await page.evaluate(async () => ({
      waiting: await window.waiting,
      next: await window.p2pcp.hello({ timeout: 5000 }).then(() => 'OK', (e) => e.code),
    }));
    assert.deepEqual(afterRestart, { waiting: 'EXTENSION_UNAVAILABLE', next: 'EXTENSION_UNAVAILABLE' });
    await page.close();
  } finally {
    await many.close();
  }
});
