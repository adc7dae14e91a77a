// SPDX-License-Identifier: Apache-2.0
// Runs the page-side checks by itself and POSTs the outcome to /report, so a
// test can run it in a browser it cannot script (Firefox through web-ext).
'use strict';
(async () => {
  const results = {};
  // Bytes travel to the test as hex.
  const plain = (v) => {
    if (v instanceof Uint8Array) return { $hex: Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('') };
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
  };
  const attempt = async (name, run) => {
    try {
      results[name] = { result: plain(await run()) };
    } catch (e) {
      results[name] = { error: { code: e.code, message: e.message, data: e.data } };
    }
  };
  for (let i = 0; i < 100 && !window.p2pcp; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!window.p2pcp) {
    results.api = { error: { code: 'NO_API', message: 'window.p2pcp did not appear' } };
  } else {
    const p2pcp = window.p2pcp;
    await attempt('hello', () => p2pcp.hello());
    await attempt('identity', () => p2pcp.identity());
    await attempt('publicStorageKey', () => p2pcp.publicStorageKey('/profile'));
    await attempt('privateStorageKey', () => p2pcp.privateStorageKey('/notes'));
    const nonce = new TextEncoder().encode('0123456789abcdef');
    await attempt('signLogin', () => p2pcp.signLogin({ indexServer: 'wss://index.example/', nonce, timestamp: 1 }));
    await attempt('sealOpen', async () => new TextDecoder().decode(await p2pcp.open('/notes', await p2pcp.seal('/notes', new TextEncoder().encode('notes')))));
    // An origin of the page's choosing is not a login field: refused before it is sent.
    await attempt('forgedLogin', () => p2pcp.signLogin({ indexServer: 'wss://index.example/', nonce, timestamp: 1, origin: 'https://victim.example' }));
  }
  await fetch('/report', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ origin: location.origin, results }) });
})();
