// SPDX-License-Identifier: Apache-2.0
// Sends window.p2pcp every bad input we could think of and checks, in the
// page, that each call returns a promise (never throws), settles in time with
// a P2pcpError of the expected code naming the expected field, and that the
// next call still works. window.runBattery() gives the outcome; with
// `?report=1` the page runs it by itself and POSTs it to the test's server.
'use strict';
(() => {
  const settleWithin = (promise, ms) => Promise.race([
    promise.then((result) => ({ result }), (error) => ({ error })),
    new Promise((resolve) => setTimeout(() => resolve({ hung: true }), ms)),
  ]);

  function cases(p2pcp) {
    const here = location.origin;
    const ok = new TextEncoder().encode('ok');
    const block = (extra) => ({ uri: `${here}/b`, kind: 'public', seq: 1, payload: ok, ...extra });
    const without = (object, name) => { const copy = { ...object }; delete copy[name]; return copy; };
    const lone = 'notes\uD800';
    const big = (n) => new Uint8Array(n);
    return [
      // The silent wrong results: signBlock payloads that are not bytes.
      ...[['42', 42], ['array', [1, 2, 3]], ['Blob', new Blob(['x'])], ['object', {}], ['null', null],
        ['string', 'AAAA'], ['Uint16Array', new Uint16Array(2)], ['DataView', new DataView(new ArrayBuffer(2))],
        ['boolean', true]].map(([name, payload]) => [`signBlock payload ${name}`, () => p2pcp.signBlock(block({ payload })), 'BAD_REQUEST', 'block.payload']),
      ['signBlock without payload', () => p2pcp.signBlock(without(block(), 'payload')), 'BAD_REQUEST', 'block.payload'],
      ['signBlock payload and payloadSha256', () => p2pcp.signBlock(block({ payloadSha256: new Uint8Array(32) })), 'BAD_REQUEST', 'block'],
      ['signBlock payloadSha256 of 31 bytes', () => p2pcp.signBlock(without(block({ payloadSha256: new Uint8Array(31) }), 'payload')), 'BAD_REQUEST', 'block.payloadSha256'],
      // The synchronous throws and plain TypeErrors.
      ['signBlock(null)', () => p2pcp.signBlock(null), 'BAD_REQUEST', 'block'],
      ['signBlock()', () => p2pcp.signBlock(), 'BAD_REQUEST', 'block'],
      ['signBlock("x")', () => p2pcp.signBlock('x'), 'BAD_REQUEST', 'block'],
      ['signBlock([])', () => p2pcp.signBlock([]), 'BAD_REQUEST', 'block'],
      ['signLogin()', () => p2pcp.signLogin(), 'BAD_REQUEST', 'login'],
      ['signLogin(null)', () => p2pcp.signLogin(null), 'BAD_REQUEST', 'login'],
      ['identity(null)', () => p2pcp.identity(null), 'BAD_REQUEST', 'options'],
      ['identity(42)', () => p2pcp.identity(42), 'BAD_REQUEST', 'options'],
      ['seal()', () => p2pcp.seal(), 'BAD_REQUEST', 'uri'],
      ['seal(uri)', () => p2pcp.seal('/n'), 'BAD_REQUEST', 'plaintext'],
      ['seal(uri, string)', () => p2pcp.seal('/n', 'aGVsbG8='), 'BAD_REQUEST', 'plaintext'],
      ['open(uri)', () => p2pcp.open('/n'), 'BAD_REQUEST', 'sealed'],
      ['open(uri, string)', () => p2pcp.open('/n', 'AAAA'), 'BAD_REQUEST', 'sealed'],
      ['publicStorageKey()', () => p2pcp.publicStorageKey(), 'BAD_REQUEST', 'uri'],
      ['publicStorageKey(42)', () => p2pcp.publicStorageKey(42), 'BAD_REQUEST', 'uri'],
      ['privateStorageKey(null)', () => p2pcp.privateStorageKey(null), 'BAD_REQUEST', 'uri'],
      ['publicStorageKey("")', () => p2pcp.publicStorageKey(''), 'BAD_REQUEST', 'uri'],
      ['publicStorageKey(4097 bytes)', () => p2pcp.publicStorageKey(`/${'x'.repeat(4096)}`), 'BAD_REQUEST', 'uri'],
      ['publicStorageKey(String object)', () => p2pcp.publicStorageKey(new String('/x')), 'BAD_REQUEST', 'uri'],
      // Unknown option names: a typo never falls back to the default key.
      ['identity({kye})', () => p2pcp.identity({ kye: 'pkcs11:object=fixture-p256' }), 'BAD_REQUEST', 'options.kye'],
      ['publicStorageKey {kye}', () => p2pcp.publicStorageKey('/p', { kye: 'pkcs11:object=x' }), 'BAD_REQUEST', 'options.kye'],
      ['seal {Key}', () => p2pcp.seal('/n', ok, { Key: 'pkcs11:object=x' }), 'BAD_REQUEST', 'options.Key'],
      ['signBlock {key} inside the block', () => p2pcp.signBlock(block({ key: 'pkcs11:object=x' })), 'BAD_REQUEST', 'block.key'],
      ['signBlock unknown block member', () => p2pcp.signBlock(block({ sequence: 2 })), 'BAD_REQUEST', 'block.sequence'],
      ['signLogin with an origin of its choosing', () => p2pcp.signLogin({ indexServer: 'wss://i.example/', nonce: big(16), timestamp: 1, origin: 'https://victim.example' }), 'BAD_REQUEST', 'login.origin'],
      ['hello {x}', () => p2pcp.hello({ x: 1 }), 'BAD_REQUEST', 'options.x'],
      ['options as an array', () => p2pcp.identity([]), 'BAD_REQUEST', 'options'],
      ['key not a fingerprint or URI', () => p2pcp.identity({ key: 'fixture-p256' }), 'BAD_REQUEST', 'options.key'],
      ['key in upper-case hex', () => p2pcp.identity({ key: 'A'.repeat(64) }), 'BAD_REQUEST', 'options.key'],
      ['key 42', () => p2pcp.identity({ key: 42 }), 'BAD_REQUEST', 'options.key'],
      ['requestAccess("admin")', () => p2pcp.requestAccess('admin'), 'BAD_REQUEST', 'access'],
      ['requestAccess(null)', () => p2pcp.requestAccess(null), 'BAD_REQUEST', 'access'],
      ['signatureFormat "raw"', () => p2pcp.signBlock(block(), { signatureFormat: 'raw' }), 'BAD_REQUEST', 'options.signatureFormat'],
      // Lone surrogates (the host could not even attribute its PARSE_ERROR).
      ['uri with a lone surrogate', () => p2pcp.privateStorageKey(lone), 'BAD_REQUEST', 'uri'],
      ['block uri with a lone surrogate', () => p2pcp.signBlock(block({ uri: `${here}/\uDC00` })), 'BAD_REQUEST', 'block.uri'],
      ['indexServer with a lone surrogate', () => p2pcp.signLogin({ indexServer: 'wss://i.example/\uD83D', nonce: big(16), timestamp: 1 }), 'BAD_REQUEST', 'login.indexServer'],
      ['key with a lone surrogate', () => p2pcp.identity({ key: 'pkcs11:object=\uD800' }), 'BAD_REQUEST', 'options.key'],
      ['seal uri with a lone surrogate', () => p2pcp.seal(lone, ok), 'BAD_REQUEST', 'uri'],
      // Numbers: safe integers or bigints within u64, never negative.
      ...[['-1', -1], ['1.5', 1.5], ['NaN', NaN], ['Infinity', Infinity], ['2^53', 2 ** 53], ['"5"', '5'],
        ['2^64 as bigint', 2n ** 64n], ['-1n', -1n], ['null', null], ['Number object', new Number(1)]].map(([name, seq]) =>
        [`signBlock seq ${name}`, () => p2pcp.signBlock(block({ seq })), 'BAD_REQUEST', 'block.seq']),
      ['signBlock without seq', () => p2pcp.signBlock(without(block(), 'seq')), 'BAD_REQUEST', 'block.seq'],
      ['signLogin timestamp -5', () => p2pcp.signLogin({ indexServer: 'wss://i.example/', nonce: big(16), timestamp: -5 }), 'BAD_REQUEST', 'login.timestamp'],
      ['signLogin timestamp 2^64n', () => p2pcp.signLogin({ indexServer: 'wss://i.example/', nonce: big(16), timestamp: 2n ** 64n }), 'BAD_REQUEST', 'login.timestamp'],
      ['signLogin nonce of 15 bytes', () => p2pcp.signLogin({ indexServer: 'wss://i.example/', nonce: big(15), timestamp: 1 }), 'BAD_REQUEST', 'login.nonce'],
      ['signLogin nonce of 65 bytes', () => p2pcp.signLogin({ indexServer: 'wss://i.example/', nonce: big(65), timestamp: 1 }), 'BAD_REQUEST', 'login.nonce'],
      ['signLogin nonce as base64', () => p2pcp.signLogin({ indexServer: 'wss://i.example/', nonce: btoa('0123456789abcdef'), timestamp: 1 }), 'BAD_REQUEST', 'login.nonce'],
      ['signLogin without indexServer', () => p2pcp.signLogin({ nonce: big(16), timestamp: 1 }), 'BAD_REQUEST', 'login.indexServer'],
      // The block's two forms.
      ['signBlock uri and storageKey', () => p2pcp.signBlock(block({ storageKey: new Uint8Array(32) })), 'BAD_REQUEST', 'block'],
      ['signBlock storageKey of 31 bytes', () => p2pcp.signBlock({ storageKey: new Uint8Array(31), seq: 1, payload: ok }), 'BAD_REQUEST', 'block.storageKey'],
      ['signBlock storageKey as hex', () => p2pcp.signBlock({ storageKey: '00'.repeat(32), seq: 1, payload: ok }), 'BAD_REQUEST', 'block.storageKey'],
      ['signBlock kind "secret"', () => p2pcp.signBlock(block({ kind: 'secret' })), 'BAD_REQUEST', 'block.kind'],
      ['signBlock private without storageKey', () => p2pcp.signBlock(block({ private: '/x' })), 'BAD_REQUEST', 'block.private'],
      // Call options.
      ['signal not an AbortSignal', () => p2pcp.hello({ signal: {} }), 'BAD_REQUEST', 'options.signal'],
      ['timeout 0', () => p2pcp.hello({ timeout: 0 }), 'BAD_REQUEST', 'options.timeout'],
      ['timeout -1', () => p2pcp.hello({ timeout: -1 }), 'BAD_REQUEST', 'options.timeout'],
      ['timeout 1.5', () => p2pcp.hello({ timeout: 1.5 }), 'BAD_REQUEST', 'options.timeout'],
      ['timeout "10"', () => p2pcp.hello({ timeout: '10' }), 'BAD_REQUEST', 'options.timeout'],
      ['an aborted signal', () => p2pcp.identity({ signal: AbortSignal.abort('stop') }), 'ABORTED', undefined],
      ['aborted right after the call', () => { const c = new AbortController(); const p = p2pcp.identity({ signal: c.signal }); c.abort(); return p; }, 'ABORTED', undefined],
      // Sizes: checked before anything is sent.
      ['seal of 5 MiB', () => p2pcp.seal('/big', big(5 * 1024 * 1024)), 'MESSAGE_TOO_LARGE', undefined],
      ['seal whose reply is over 1 MiB', () => p2pcp.seal('/big', big(800 * 1024)), 'MESSAGE_TOO_LARGE', undefined],
      ['open of 5 MiB', () => p2pcp.open('/big', big(5 * 1024 * 1024)), 'MESSAGE_TOO_LARGE', undefined],
      // Batch inputs that are not lists, or lack what they need.
      ['deriveStorageKeys("x")', () => p2pcp.deriveStorageKeys('/x', { kind: 'public' }), 'BAD_REQUEST', 'uris'],
      ['deriveStorageKeys without kind', () => p2pcp.deriveStorageKeys(['/x']), 'BAD_REQUEST', 'options.kind'],
      ['deriveStorageKeys kind "both"', () => p2pcp.deriveStorageKeys(['/x'], { kind: 'both' }), 'BAD_REQUEST', 'options.kind'],
      ['signBlocks(null)', () => p2pcp.signBlocks(null), 'BAD_REQUEST', 'blocks'],
      ['sealMany({})', () => p2pcp.sealMany({}), 'BAD_REQUEST', 'items'],
      ['openMany()', () => p2pcp.openMany(), 'BAD_REQUEST', 'items'],
      ['sealMany {kye}', () => p2pcp.sealMany([], { kye: 'x' }), 'BAD_REQUEST', 'options.kye'],
      // What pages may not do at all.
      ['sign without full access', () => p2pcp.sign(ok), 'NOT_ALLOWED_BY_POLICY', undefined],
      ['a method taken off the object', () => { const f = p2pcp.publicStorageKey; return f(42); }, 'BAD_REQUEST', 'uri'],
    ];
  }

  // Requests that bypass window.p2pcp and speak to the content script
  // directly, with what the page API would never send.
  function direct(id, method, params) {
    return new Promise((resolve) => {
      const onMessage = (e) => {
        if (e.data?.channel === 'p2pcp-v1' && e.data.to === 'page' && e.data.id === id) {
          window.removeEventListener('message', onMessage);
          resolve(e.data);
        }
      };
      window.addEventListener('message', onMessage);
      window.postMessage({ channel: 'p2pcp-v1', to: 'extension', id, method, params }, location.origin);
    });
  }

  async function runBattery() {
    for (let i = 0; i < 100 && !window.p2pcp; i++) await new Promise((r) => setTimeout(r, 100));
    const p2pcp = window.p2pcp;
    const outcomes = [];
    const good = async () => {
      const r = await settleWithin(p2pcp.publicStorageKey('/profile'), 20000);
      return r.result instanceof Uint8Array && r.result.length === 32;
    };
    for (const [name, run, code, field] of cases(p2pcp)) {
      const outcome = { name, expected: { code, field } };
      const started = performance.now();
      let promise;
      try {
        promise = run();
      } catch (e) {
        outcome.threw = String(e);
      }
      if (promise) {
        outcome.isPromise = promise instanceof Promise;
        const r = await settleWithin(Promise.resolve(promise), 20000);
        outcome.ms = Math.round(performance.now() - started);
        if (r.hung) outcome.hung = true;
        else if (r.error) {
          outcome.code = r.error.code;
          outcome.field = r.error.data?.field;
          outcome.isP2pcpError = r.error instanceof p2pcp.P2pcpError;
          outcome.message = String(r.error.message).slice(0, 200);
        } else outcome.resolved = true;
      }
      outcome.nextOk = await good();
      outcomes.push(outcome);
    }
    // Straight to the content script: what used to hang (over 64 MiB, a
    // bigint, a lone surrogate) is answered with the request's own id.
    const directCases = [
      ['direct: 70 MiB payload', 'seal', { uri: '/x', plaintext: 'A'.repeat(70 * 1024 * 1024) }, 'MESSAGE_TOO_LARGE'],
      ['direct: 5 MiB request', 'seal', { uri: '/x', plaintext: 'A'.repeat(5 * 1024 * 1024) }, 'MESSAGE_TOO_LARGE'],
      ['direct: bigint seq', 'signBlock', { uri: `${location.origin}/b`, kind: 'public', seq: 5n, payload: '' }, 'BAD_REQUEST'],
      ['direct: lone surrogate', 'deriveStorageKey', { uri: '/\uD800', kind: 'public' }, 'BAD_REQUEST'],
      ['direct: params as an array', 'hello', [], 'BAD_REQUEST'],
      ['direct: params nested 40 deep', 'deriveStorageKey', { uri: '/x', kind: 'public', deep: JSON.parse('['.repeat(40) + ']'.repeat(40)) }, 'BAD_REQUEST'],
      ['direct: a method pages may not call', 'listConsents', {}, 'NOT_ALLOWED_BY_POLICY'],
      ['direct: no such method', 'frobnicate', {}, 'NOT_ALLOWED_BY_POLICY'],
    ];
    let id = 900000;
    for (const [name, method, params, code] of directCases) {
      const started = performance.now();
      const r = await settleWithin(direct(id++, method, params), 20000);
      outcomes.push({
        name, expected: { code }, isPromise: true, isP2pcpError: true, hung: r.hung === true,
        code: r.result?.error?.code, ms: Math.round(performance.now() - started), nextOk: await good(),
      });
    }
    return outcomes;
  }

  window.runBattery = runBattery;
  if (new URLSearchParams(location.search).get('report') === '1') {
    runBattery().then((outcomes) => fetch('/report', {
      method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ origin: location.origin, battery: outcomes }),
    }));
  }
})();
