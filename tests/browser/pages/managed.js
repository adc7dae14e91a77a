// SPDX-License-Identifier: Apache-2.0
// For a browser an administrator manages (tests/browser/managed.test.mjs):
// calls hello() and, through access the agent's policy grants, identity() and
// publicStorageKey() as soon as it loads; recomputes the storage key from the
// returned public key with WebCrypto; POSTs everything to /report.
'use strict';
(async () => {
  const report = { origin: location.origin };
  const enc = new TextEncoder();
  const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  const attempt = async (name, run) => {
    try {
      report[name] = { result: await run() };
    } catch (e) {
      report[name] = { error: { code: e.code, message: e.message } };
    }
    return report[name];
  };
  for (let i = 0; i < 100 && !window.p2pcp; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!window.p2pcp) {
    report.hello = { error: { code: 'NO_API', message: 'window.p2pcp did not appear' } };
  } else if (!(await attempt('hello', () => window.p2pcp.hello())).error) {
    // Bytes (Uint8Array) travel to the test as hex.
    const identity = await attempt('identity', async () => {
      const r = await window.p2pcp.identity();
      return { ...r, spki: hex(r.spki) };
    });
    const storageKey = await attempt('publicStorageKey', async () => hex(await window.p2pcp.publicStorageKey('/profile')));
    if (identity.result && storageKey.result) {
      const spki = Uint8Array.from(identity.result.spki.match(/../g), (h) => parseInt(h, 16));
      const mine = hex(await crypto.subtle.digest('SHA-256',
        concat(enc.encode('p2pcp/v1/public\0'), spki, enc.encode('/profile'))));
      const fingerprint = hex(await crypto.subtle.digest('SHA-256', spki));
      report.checks = { storageKey: mine === storageKey.result, fingerprint: fingerprint === identity.result.fingerprint };
    }
  }
  await fetch('/report', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(report) });
})();
