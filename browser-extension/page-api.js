// SPDX-License-Identifier: Apache-2.0
// window.p2pcp: the page's view of the person's p2pcp identity on their token.
// Runs in the page's own world, so it holds nothing secret and can be forged
// or replaced by the page; everything that matters (the origin, the consent,
// the PIN) is decided by the extension's background and the agent.
// The API is documented in docs/page-api.md.
(() => {
  'use strict';
  if (window.p2pcp) {
    return;
  }
  const CHANNEL = 'p2pcp-v1';
  const ownOrigin = window.location.origin;
  const pending = new Map();
  let nextId = 1;

  class P2pcpError extends Error {
    constructor(code, message, data) {
      super(message);
      this.name = 'P2pcpError';
      this.code = code;
      this.data = data ?? {};
    }
  }

  const toBase64 = (bytes) => {
    if (typeof bytes === 'string') {
      return bytes; // already base64
    }
    const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes)
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let binary = '';
    for (let i = 0; i < view.length; i += 0x8000) {
      binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  };
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

  class P2pcp extends EventTarget {
    // Events: "tokeninserted" and "tokenremoved" (detail: {}), only while this
    // origin has access; they say that a token came or went, not which one.
    addEventListener(type, listener, options) {
      super.addEventListener(type, listener, options);
      window.postMessage({ channel: CHANNEL, to: 'extension', listen: true }, ownOrigin);
    }
    // Agent and protocol version, the methods this page may call and its
    // access ("none", "site", "full"); needs no consent and says nothing about the person.
    hello() { return call('hello', {}); }
    // Asks the person for "site" access (a space of this site's own) or
    // "full" access (the person's whole p2pcp space, for their p2pcp app).
    // Resolves with {access, space}.
    requestAccess(access = 'site') { return call('requestAccess', { access }); }
    // {type, spki (base64 DER), fingerprint (hex)} of the person's key (no token URI:
    // it would name the token's label and serial).
    identity(options = {}) { return call('getPublicKey', keyOf(options)); }
    async publicStorageKey(uri, options = {}) {
      const r = await call('deriveStorageKey', { ...keyOf(options), kind: 'public', uri });
      return r.storageKey;
    }
    async privateStorageKey(uri, options = {}) {
      const r = await call('deriveStorageKey', { ...keyOf(options), kind: 'private', uri });
      return r.storageKey;
    }
    // {uri, kind ("public" | "private"), seq, payload (bytes or base64)}: the agent
    // computes the storage key (with site access, public uris must begin with
    // this site's origin and "/"). With full access also {storageKey (hex), seq,
    // payload, private (uri, optional)}.
    signBlock({ uri, kind, storageKey, seq, payload, private: privateUri, key } = {}) {
      const params = { seq, payload: toBase64(payload ?? new Uint8Array()) };
      if (uri !== undefined) params.uri = uri;
      if (kind !== undefined) params.kind = kind;
      if (storageKey !== undefined) params.storageKey = storageKey;
      if (privateUri !== undefined) params.private = privateUri;
      if (key !== undefined) params.key = key;
      return call('signBlock', params);
    }
    // {indexServer, nonce (bytes or base64), timestamp}; the origin is the page's own.
    signLogin({ indexServer, nonce, timestamp, key } = {}) {
      const params = { indexServer, nonce: toBase64(nonce), timestamp };
      if (key !== undefined) params.key = key;
      return call('signLogin', params);
    }
    async seal(uri, plaintext, options = {}) {
      const r = await call('seal', { ...keyOf(options), uri, plaintext: toBase64(plaintext) });
      return r.sealed;
    }
    async open(uri, sealed, options = {}) {
      const r = await call('open', { ...keyOf(options), uri, sealed: toBase64(sealed) });
      return fromBase64(r.plaintext);
    }
  }

  const keyOf = (options) => (options.key !== undefined ? { key: options.key } : {});

  const api = new P2pcp();
  api.P2pcpError = P2pcpError;

  function call(method, params) {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      window.postMessage({ channel: CHANNEL, to: 'extension', id, method, params }, ownOrigin);
    });
  }

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (event.source !== window || event.origin !== ownOrigin || !m || m.channel !== CHANNEL ||
        m.to !== 'page') {
      return;
    }
    if (m.event) {
      api.dispatchEvent(new CustomEvent(m.event, { detail: m.detail ?? {} }));
      return;
    }
    const waiter = pending.get(m.id);
    if (!waiter) {
      return;
    }
    pending.delete(m.id);
    if (m.error) {
      waiter.reject(new P2pcpError(m.error.code, m.error.message, m.error.data));
    } else {
      waiter.resolve(m.result);
    }
  });

  Object.freeze(P2pcp.prototype);
  Object.defineProperty(window, 'p2pcp', { value: Object.freeze(api), enumerable: true });
})();
