// SPDX-License-Identifier: Apache-2.0
// A frame's own p2pcp probe: which origin it speaks as, and how each call
// settles (a result, or a P2pcpError code and how long it took). It reports
// to its parent (pages/frames.html), or to the test's server when it is the
// top document (`?report=1`).
'use strict';
(async () => {
  const query = new URLSearchParams(location.search);
  const name = window.FRAME_NAME ?? query.get('name') ?? 'top';
  for (let i = 0; i < 50 && !window.p2pcp; i++) await new Promise((r) => setTimeout(r, 100));
  const report = { name, locationOrigin: location.origin, selfOrigin: self.origin, hasApi: Boolean(window.p2pcp) };
  const attempt = async (label, run) => {
    const started = performance.now();
    try {
      const result = await run();
      report[label] = { result, ms: Math.round(performance.now() - started) };
    } catch (e) {
      report[label] = { error: { code: e.code, message: e.message }, ms: Math.round(performance.now() - started) };
    }
  };
  if (window.p2pcp) {
    const p2pcp = window.p2pcp;
    const nonce = new Uint8Array(16).fill(7);
    await attempt('hello', async () => (await p2pcp.hello()).access);
    await attempt('login', async () => {
      const login = await p2pcp.signLogin({ indexServer: 'wss://index.example/', nonce, timestamp: 1 });
      const identity = await p2pcp.identity();
      const key = await crypto.subtle.importKey('spki', identity.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
      const verified = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, login.signature, login.message);
      return { message: new TextDecoder().decode(login.message).split('\0')[1], verified };
    });
    await attempt('privateStorageKey', async () => p2pcp.toHex(await p2pcp.privateStorageKey('/notes')));
    await attempt('seal', async () => p2pcp.toHex(await p2pcp.seal('/notes', new Uint8Array([1, 2, 3]))));
    // Whatever the inputs: in an opaque origin this is NOT_ALLOWED too; elsewhere BAD_REQUEST.
    await attempt('badInput', () => p2pcp.signBlock(null));
  }
  if (window.parent !== window) {
    window.parent.postMessage({ frameReport: report }, '*');
  } else if (query.get('report') === '1') {
    await fetch('/report', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ frames: [report] }) });
  }
  window.frameReport = report;
})();
