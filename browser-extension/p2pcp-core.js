// SPDX-License-Identifier: Apache-2.0
// The transport-independent core of the page API: input checks, encodings,
// batches, timeouts, aborts and the P2pcp class behind window.p2pcp
// (browser-extension/page-api.js, through the extension) and P2pcpWs
// (clients/p2pcp-ws.js, through the agent's WebSocket front door). One copy,
// so that both give an app the same methods, options, checks, outputs and
// error codes (p2pcp.d.ts; docs/page-api.md, docs/front-door.md).
//
// It runs in the page's own world and holds nothing secret: the origin, the
// consent and the PIN are decided by the agent. It defines the global
// P2pcpCore, which page-api.js takes and deletes at once (both run at
// document_start, before any script of the page); a page that uses the front
// door includes this file before p2pcp-ws.js.
//
// The contract kept here: every call returns a promise and settles, with a
// result or a P2pcpError whose code is in p2pcp.d.ts; inputs are checked
// strictly (a wrong type or an unknown option name is BAD_REQUEST naming the
// field, never a default) before anything is sent.
globalThis.P2pcpCore = (() => {
  'use strict';
  // The native host and the front door read requests of at most 4 MiB; what
  // the extension or the WebSocket client adds around the params (id, method,
  // origin, jsonrpc) stays well within the margin.
  const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
  const REQUEST_MARGIN = 1024;
  // Long enough for a consent dialog and then a PIN dialog (the agent's
  // pinentry gives each 120 s) and the token's work.
  const DEFAULT_TIMEOUT_MS = 300000;
  const MAX_TIMEOUT_MS = 2147483647; // setTimeout's limit
  const PIPELINE = 2; // batch requests in flight at once
  const U64_MAX = (1n << 64n) - 1n;
  // Used when the agent's hello does not say (an agent older than batches).
  const DEFAULT_BATCH_LIMITS = Object.freeze({
    deriveStorageKeys: 2048, signBlocks: 256, sealMany: 256, openMany: 256, batchBytes: 524288,
  });
  // Agent method -> the page methods that use it (hello lists page names).
  const PAGE_NAMES = {
    hello: ['hello'], requestAccess: ['requestAccess'], listKeys: ['listKeys'],
    getPublicKey: ['identity'], deriveStorageKey: ['publicStorageKey', 'privateStorageKey'],
    deriveStorageKeys: ['deriveStorageKeys'], signBlock: ['signBlock'], signBlocks: ['signBlocks'],
    signLogin: ['signLogin'], seal: ['seal'], open: ['open'], sealMany: ['sealMany'],
    openMany: ['openMany'], sign: ['sign'], pair: ['pair'],
  };


  class P2pcpError extends Error {
    constructor(code, message, data) {
      super(message);
      this.name = 'P2pcpError';
      this.code = code;
      this.data = data ?? {};
    }
  }
  const fail = (code, message, data) => new P2pcpError(code, message, data);
  const bad = (field, message) => fail('BAD_REQUEST', `${field}: ${message}`, { field });

  // ---- inputs ---------------------------------------------------------------

  const tag = (v) => Object.prototype.toString.call(v);
  const describe = (v) => {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'an array';
    if (typeof v === 'object') return tag(v).slice(8, -1);
    return typeof v;
  };
  const isPlainObject = (v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
    const proto = Object.getPrototypeOf(v);
    return proto === null || proto === Object.prototype || tag(v) === '[object Object]';
  };
  const encoder = new TextEncoder();
  const utf8Length = (text) => (/^[\x00-\x7f]*$/.test(text) ? text.length : encoder.encode(text).length);

  // An object with only the named members; `undefined` members count as absent.
  function record(value, field, allowed) {
    if (!isPlainObject(value)) throw bad(field, `must be an object, not ${describe(value)}`);
    for (const name of Object.keys(value)) {
      if (!allowed.includes(name)) {
        throw bad(`${field}.${name}`, `unknown member (known: ${allowed.join(', ')})`);
      }
    }
    return value;
  }

  function text(value, field, { min = 1, maxBytes = 4096 } = {}) {
    if (typeof value !== 'string') throw bad(field, `must be a string, not ${describe(value)}`);
    if (!value.isWellFormed()) throw bad(field, 'is not well-formed Unicode (a lone surrogate)');
    const bytes = value.length > maxBytes ? maxBytes + 1 : utf8Length(value);
    if (bytes < min || bytes > maxBytes) {
      throw bad(field, `must be ${min} to ${maxBytes} bytes of UTF-8`);
    }
    return value;
  }

  function oneOf(value, field, choices) {
    if (!choices.includes(value)) {
      throw bad(field, `must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`);
    }
    return value;
  }

  // Binary inputs: Uint8Array or ArrayBuffer (from any realm); never a string.
  function bytes(value, field) {
    if (tag(value) === '[object Uint8Array]') {
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
    if (tag(value) === '[object ArrayBuffer]') {
      if (value.detached) throw bad(field, 'is a detached ArrayBuffer');
      return new Uint8Array(value);
    }
    throw bad(field, `must be a Uint8Array or an ArrayBuffer, not ${describe(value)}`);
  }

  // A u64 as the protocol takes it: a number up to 2^53, a decimal string above.
  function u64(value, field) {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) {
        throw bad(field, 'must be a safe integer (use a bigint above 2^53)');
      }
      if (value < 0) throw bad(field, 'must not be negative');
      return value;
    }
    if (typeof value === 'bigint') {
      if (value < 0n || value > U64_MAX) throw bad(field, 'must be within 0 and 2^64 - 1');
      return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
    }
    throw bad(field, `must be a number or a bigint, not ${describe(value)}`);
  }

  // A key: a PKCS#11 URI or a fingerprint (64 lowercase hex digits).
  function keyParam(value, field) {
    text(value, field, { maxBytes: 4096 });
    if (!/^[0-9a-f]{64}$/.test(value) && !value.startsWith('pkcs11:')) {
      throw bad(field, 'must be a key fingerprint (64 lowercase hex digits) or a PKCS#11 URI');
    }
    return value;
  }

  // Options common to every call, plus the method's own names.
  function options(value, own = []) {
    if (value === undefined) return { own: {}, signal: undefined, timeout: DEFAULT_TIMEOUT_MS };
    const allowed = [...own, 'signal', 'timeout'];
    record(value, 'options', allowed);
    const { signal, timeout } = value;
    if (signal !== undefined && !(signal instanceof AbortSignal) && tag(signal) !== '[object AbortSignal]') {
      throw bad('options.signal', `must be an AbortSignal, not ${describe(signal)}`);
    }
    if (timeout !== undefined && (!Number.isSafeInteger(timeout) || timeout <= 0 || timeout > MAX_TIMEOUT_MS)) {
      throw bad('options.timeout', `must be a whole number of milliseconds, 1 to ${MAX_TIMEOUT_MS}`);
    }
    const picked = {};
    for (const name of own) {
      if (value[name] !== undefined) picked[name] = value[name];
    }
    return { own: picked, signal, timeout: timeout ?? DEFAULT_TIMEOUT_MS };
  }

  // The agent params every key-taking method shares.
  function keyParams(own) {
    return own.key !== undefined ? { key: keyParam(own.key, 'options.key') } : {};
  }

  // ---- encodings -------------------------------------------------------------

  function toBase64(data) {
    const view = bytes(data, 'bytes');
    let binary = '';
    for (let i = 0; i < view.length; i += 0x8000) {
      binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }
  function fromBase64(value) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
      throw bad('base64', 'is not standard base64 with padding');
    }
    const binary = atob(value);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }
  const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
  function toHex(data) {
    const view = bytes(data, 'bytes');
    let out = '';
    for (const b of view) out += HEX[b];
    return out;
  }
  const nibble = (c) => (c <= 57 ? c - 48 : (c | 32) - 87); // '0'-'9', 'a'-'f', 'A'-'F'
  function fromHex(value) {
    if (typeof value !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(value)) {
      throw bad('hex', 'is not an even number of hex digits');
    }
    const out = new Uint8Array(value.length / 2);
    for (let i = 0; i < out.length; i++) {
      out[i] = (nibble(value.charCodeAt(2 * i)) << 4) | nibble(value.charCodeAt(2 * i + 1));
    }
    return out;
  }
  // Replies from the agent: malformed ones are the extension's problem, not the page's.
  const reply = (decode, value, what) => {
    try {
      return decode(value);
    } catch {
      throw fail('INTERNAL_ERROR', `the agent's reply has a malformed ${what}`);
    }
  };
  const replyBytes = (v, what) => reply(fromBase64, v, what);
  const replyHex = (v, what) => reply(fromHex, v, what);
  const signatureOf = (r) => ({
    signature: replyBytes(r.signature, 'signature'),
    publicKey: replyBytes(r.publicKey, 'publicKey'),
    algorithm: r.algorithm,
  });
  const itemError = (e) => fail(e?.data?.error ?? 'INTERNAL_ERROR', e?.message ?? 'unknown error', e?.data);

  // Each item of a batch: refused in the page as a per-item BAD_REQUEST.
  function encodeItems(list, listName, encodeOne) {
    if (!Array.isArray(list)) throw bad(listName, `must be an array, not ${describe(list)}`);
    return list.map((value, index) => {
      try {
        const { param, weight = 0 } = encodeOne(value, `${listName}[${index}]`);
        return { param, weight, size: utf8Length(JSON.stringify(param)) };
      } catch (e) {
        if (e instanceof P2pcpError) return { error: e };
        throw e;
      }
    });
  }

  // The per-block fields of signBlock and signBlocks.
  const BLOCK_FIELDS = ['uri', 'kind', 'storageKey', 'private', 'seq', 'payload', 'payloadSha256'];
  function blockParams(block, field) {
    record(block, field, BLOCK_FIELDS);
    const params = { seq: u64(block.seq, `${field}.seq`) };
    if (block.payload !== undefined && block.payloadSha256 !== undefined) {
      throw bad(field, 'give payload or payloadSha256, not both');
    }
    let weight = 0;
    if (block.payloadSha256 !== undefined) {
      const digest = bytes(block.payloadSha256, `${field}.payloadSha256`);
      if (digest.length !== 32) throw bad(`${field}.payloadSha256`, 'must be 32 bytes');
      params.payloadSha256 = toHex(digest);
    } else {
      if (block.payload === undefined) throw bad(`${field}.payload`, 'is required (or payloadSha256)');
      const payload = bytes(block.payload, `${field}.payload`);
      params.payload = toBase64(payload);
      weight = payload.length;
    }
    if (block.storageKey !== undefined) {
      if (block.uri !== undefined || block.kind !== undefined) {
        throw bad(field, 'give uri and kind, or storageKey, not both');
      }
      const key = bytes(block.storageKey, `${field}.storageKey`);
      if (key.length !== 32) throw bad(`${field}.storageKey`, 'must be 32 bytes');
      params.storageKey = toHex(key);
      if (block.private !== undefined) params.private = text(block.private, `${field}.private`);
    } else {
      if (block.private !== undefined) throw bad(`${field}.private`, 'goes with storageKey only');
      params.uri = text(block.uri, `${field}.uri`);
      params.kind = oneOf(block.kind, `${field}.kind`, ['public', 'private']);
    }
    return { param: params, weight };
  }
  const signedBlock = (r) => ({ ...signatureOf(r), storageKey: replyHex(r.storageKey, 'storageKey') });

  // The agent's SHA-256 of a payload is the same as the page's: a payload too
  // big for one request is hashed here (WebCrypto exists in secure contexts).
  async function hashBigPayload(block) {
    if (!isPlainObject(block) || block.payload === undefined || block.payloadSha256 !== undefined ||
        !globalThis.crypto?.subtle) {
      return block;
    }
    let payload;
    try {
      payload = bytes(block.payload, 'block.payload');
    } catch {
      return block; // blockParams names the problem
    }
    if (payload.length <= 1024 * 1024) return block;
    const { payload: _, ...rest } = block;
    return { ...rest, payloadSha256: new Uint8Array(await crypto.subtle.digest('SHA-256', payload)) };
  }

  // signatureFormat is sent only when the page names it (older agents refuse it).
  function formatParam(own) {
    return own.signatureFormat !== undefined
      ? { signatureFormat: oneOf(own.signatureFormat, 'options.signatureFormat', ['p1363', 'der']) } : {};
  }

  // ---- transport ---------------------------------------------------------------

  // The serialised request, checked against the host's limit before it is sent.
  function checkSize(method, params) {
    const json = JSON.stringify({ method, params });
    const size = json.length * 3 + REQUEST_MARGIN <= MAX_REQUEST_BYTES ? json.length : utf8Length(json);
    if (size + REQUEST_MARGIN > MAX_REQUEST_BYTES) {
      throw fail('MESSAGE_TOO_LARGE',
        `the request is ${size} bytes; the browser path takes requests of at most ${MAX_REQUEST_BYTES - REQUEST_MARGIN}`,
        { limit: MAX_REQUEST_BYTES - REQUEST_MARGIN, size });
    }
  }

  const opaqueError = () => fail('NOT_ALLOWED', 'p2pcp is not available in a document with an opaque origin ' +
    '(a sandboxed frame, a CSP sandbox or a data: URL): it has no origin to grant access to', {});
  const abortError = (signal) => fail('ABORTED', 'the call was aborted', { reason: String(signal.reason ?? '') });

  const deadlineOf = (opts) => Date.now() + opts.timeout;

  // Runs a method body so that nothing escapes as a synchronous throw or a
  // plain TypeError: every outcome is a promise of a result or a P2pcpError.
  function settle(body) {
    return new Promise((resolve) => resolve(body())).catch((e) => {
      if (e instanceof P2pcpError) throw e;
      throw fail('INTERNAL_ERROR', `p2pcp page API: ${e?.message ?? e}`, {});
    });
  }

  // Synchronous helpers for pages that want strings (they throw a P2pcpError
  // BAD_REQUEST on a malformed input; they talk to no one).
  const helpers = {
    P2pcpError,
    toHex: (data) => toHex(data),
    fromHex: (value) => fromHex(value),
    toBase64: (data) => toBase64(data),
    fromBase64: (value) => fromBase64(value),
  };

  // ---- the API -------------------------------------------------------------------

  // A page API over a transport:
  //   post({id, method, params})  sends one request (throws a P2pcpError when it cannot);
  //   listen(type)                a listener for `type` was added (token events).
  // The transport hands back what arrives with receive({id, result} | {id, error: {code,
  // message, data}}), events with emit(type, detail), and a lost connection with
  // failAll(error). `opaque`: the document has no origin to grant anything to.
  function create({ post, listen, opaque = false }) {
    const transport = { post, listen };
    const pending = new Map();
    let nextId = 1;

    // One request to the agent through the transport. `deadline` is an
    // absolute time (ms) shared by the chunks of a batch; `onPosted(id)` learns
    // the request's id once it is sent (the front door's pairingCode names it).
    function send(method, params, { signal, deadline, onPosted }) {
      return new Promise((resolve, reject) => {
        if (opaque) {
          reject(opaqueError());
          return;
        }
        if (signal?.aborted) {
          reject(abortError(signal));
          return;
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          reject(fail('TIMEOUT', 'the call timed out', {}));
          return;
        }
        checkSize(method, params);
        const id = nextId++;
        const finish = (how, value) => {
          if (!pending.has(id)) return;
          pending.delete(id);
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          how(value);
        };
        const onAbort = () => finish(reject, abortError(signal));
        const timer = setTimeout(() => finish(reject, fail('TIMEOUT',
          `no answer within ${Math.round(remaining)} ms (options.timeout); the agent may still finish the request`,
          { timeout: remaining })), remaining);
        signal?.addEventListener('abort', onAbort, { once: true });
        pending.set(id, {
          resolve: (v) => finish(resolve, v),
          reject: (e) => finish(reject, e),
        });
        try {
          onPosted?.(id);
          transport.post({ id, method, params });
        } catch (e) {
          finish(reject, e instanceof P2pcpError ? e : fail('BAD_REQUEST', `the request cannot be sent: ${e?.message ?? e}`, {}));
        }
      });
    }

    // In a document with an opaque origin every call is NOT_ALLOWED, whatever its inputs.
    function settled(body) {
      return settle(() => {
        if (opaque) throw opaqueError();
        return body();
      });
    }

    // hello's batch limits, asked once per page.
    let limitsPromise = null;
    function batchLimits(signal, deadline) {
      if (!limitsPromise) {
        limitsPromise = send('hello', {}, { signal, deadline })
          .then((r) => ({ ...DEFAULT_BATCH_LIMITS, ...(isPlainObject(r.batchLimits) ? r.batchLimits : {}) }));
        limitsPromise.catch(() => { limitsPromise = null; });
      }
      return limitsPromise;
    }

    // Runs a batch: `encoded` holds per input either {error} (refused in the
    // page) or {param, bytes, weight}. Chunks stay within the count limit, the
    // byte limit on `weight` (decoded payload bytes) and the request size.
    async function batch(method, listName, encoded, common, opts, limitName, decode) {
      const deadline = deadlineOf(opts); // signal and timeout cover the whole batch
      const limits = await batchLimits(opts.signal, deadline);
      const maxCount = Math.max(1, Number(limits[limitName]) || DEFAULT_BATCH_LIMITS[limitName]);
      const maxWeight = Math.max(1, Number(limits.batchBytes) || DEFAULT_BATCH_LIMITS.batchBytes);
      const maxBytes = MAX_REQUEST_BYTES - REQUEST_MARGIN - utf8Length(JSON.stringify({ method, params: common })) - 64;
      const results = new Array(encoded.length);
      const chunks = [];
      let chunk = [];
      let weight = 0;
      let size = 0;
      encoded.forEach((item, index) => {
        if (item.error) {
          results[index] = { error: item.error };
          return;
        }
        if (item.weight > maxWeight || item.size > maxBytes) {
          results[index] = { error: fail('MESSAGE_TOO_LARGE', `${listName}[${index}] is too large for one request`,
            { field: `${listName}[${index}]`, limit: item.weight > maxWeight ? maxWeight : maxBytes }) };
          return;
        }
        if (chunk.length === maxCount || weight + item.weight > maxWeight || size + item.size > maxBytes) {
          chunks.push(chunk);
          chunk = [];
          weight = 0;
          size = 0;
        }
        chunk.push({ index, param: item.param });
        weight += item.weight;
        size += item.size + 1;
      });
      if (chunk.length) chunks.push(chunk);
      const run = async (part) => {
        const r = await send(method, { ...common, [listName]: part.map((p) => p.param) }, { signal: opts.signal, deadline });
        if (!Array.isArray(r?.results) || r.results.length !== part.length) {
          throw fail('INTERNAL_ERROR', `the agent's ${method} reply does not have one result per item`);
        }
        part.forEach((p, i) => {
          const one = r.results[i];
          results[p.index] = one && one.error ? { error: itemError(one.error) } : decode(one);
        });
      };
      // The first request alone (it may ask for consent and the PIN), then the
      // rest PIPELINE at a time, so that the browser's transit of one overlaps
      // the agent's work on another.
      if (chunks.length) await run(chunks[0]);
      for (let next = 1; next < chunks.length;) {
        const wave = chunks.slice(next, next + PIPELINE);
        next += wave.length;
        await Promise.all(wave.map(run));
      }
      return results;
    }

      class P2pcp extends EventTarget {
      // Events: "tokeninserted" and "tokenremoved" (detail: {}), only while this
      // origin has access; they say that a token came or went, not which one.
      addEventListener(type, listener, options) {
        super.addEventListener(type, listener, options);
        if (!opaque) {
          transport.listen(type);
        }
      }

      hello(opts) {
        return settled(async () => {
          const o = options(opts);
          const r = await send('hello', {}, { signal: o.signal, deadline: deadlineOf(o) });
          const methods = new Set();
          for (const name of Array.isArray(r.methods) ? r.methods : []) {
            for (const pageName of PAGE_NAMES[name] ?? []) methods.add(pageName);
          }
          const result = { ...r, methods: [...methods] };
          if (isPlainObject(r.batchLimits)) {
            limitsPromise = Promise.resolve({ ...DEFAULT_BATCH_LIMITS, ...r.batchLimits });
          }
          return result;
        });
      }

      requestAccess(access = 'site', opts) {
        return settled(async () => {
          const o = options(opts);
          oneOf(access, 'access', ['site', 'full']);
          return send('requestAccess', { access }, { signal: o.signal, deadline: deadlineOf(o) });
        });
      }

      listKeys(opts) {
        return settled(async () => {
          const o = options(opts);
          const keys = await send('listKeys', {}, { signal: o.signal, deadline: deadlineOf(o) });
          if (!Array.isArray(keys)) throw fail('INTERNAL_ERROR', 'the agent\'s listKeys reply is not a list');
          return keys.map((k) => {
            const out = { label: k.label, type: k.type, fingerprint: k.fingerprint, default: k.default === true };
            if (k.uri !== undefined) out.uri = k.uri;
            if (k.tokenUri !== undefined) out.tokenUri = k.tokenUri;
            return out;
          });
        });
      }

      identity(opts) {
        return settled(async () => {
          const o = options(opts, ['key']);
          const r = await send('getPublicKey', keyParams(o.own), { signal: o.signal, deadline: deadlineOf(o) });
          return { type: r.type, spki: replyBytes(r.spki, 'spki'), fingerprint: r.fingerprint };
        });
      }

      publicStorageKey(uri, opts) {
        return storageKey('public', uri, opts);
      }

      privateStorageKey(uri, opts) {
        return storageKey('private', uri, opts);
      }

      deriveStorageKeys(uris, opts) {
        return settled(async () => {
          const o = options(opts, ['kind', 'key']);
          const kind = oneOf(o.own.kind, 'options.kind', ['public', 'private']);
          const encoded = encodeItems(uris, 'uris', (uri, field) => ({ param: text(uri, field) }));
          if (encoded.length === 0) return [];
          return batch('deriveStorageKeys', 'uris', encoded, { ...keyParams(o.own), kind }, o, 'deriveStorageKeys',
            (r) => ({ storageKey: replyHex(r.storageKey, 'storageKey') }));
        });
      }

      signBlock(block, opts) {
        return settled(async () => {
          const o = options(opts, ['key', 'signatureFormat']);
          const { param } = blockParams(await hashBigPayload(block), 'block');
          const params = { ...keyParams(o.own), ...formatParam(o.own), ...param };
          const r = await send('signBlock', params, { signal: o.signal, deadline: deadlineOf(o) });
          return { ...signedBlock(r), space: r.space };
        });
      }

      signBlocks(blocks, opts) {
        return settled(async () => {
          const o = options(opts, ['key', 'signatureFormat']);
          if (!Array.isArray(blocks)) throw bad('blocks', `must be an array, not ${describe(blocks)}`);
          const hashed = await Promise.all(blocks.map(hashBigPayload));
          const encoded = encodeItems(hashed, 'blocks', blockParams);
          if (encoded.length === 0) return [];
          return batch('signBlocks', 'blocks', encoded, { ...keyParams(o.own), ...formatParam(o.own) }, o, 'signBlocks',
            signedBlock);
        });
      }

      signLogin(login, opts) {
        return settled(async () => {
          const o = options(opts, ['key', 'signatureFormat']);
          record(login, 'login', ['indexServer', 'nonce', 'timestamp']);
          const nonce = bytes(login.nonce, 'login.nonce');
          if (nonce.length < 16 || nonce.length > 64) throw bad('login.nonce', 'must be 16 to 64 bytes');
          const params = {
            ...keyParams(o.own), ...formatParam(o.own),
            indexServer: text(login.indexServer, 'login.indexServer', { maxBytes: 2048 }),
            nonce: toBase64(nonce),
            timestamp: u64(login.timestamp, 'login.timestamp'),
          };
          const r = await send('signLogin', params, { signal: o.signal, deadline: deadlineOf(o) });
          return { ...signatureOf(r), message: replyBytes(r.message, 'message') };
        });
      }

      seal(uri, plaintext, opts) {
        return settled(async () => {
          const o = options(opts, ['key']);
          const params = { ...keyParams(o.own), uri: text(uri, 'uri'), plaintext: toBase64(bytes(plaintext, 'plaintext')) };
          const r = await send('seal', params, { signal: o.signal, deadline: deadlineOf(o) });
          return replyBytes(r.sealed, 'sealed');
        });
      }

      open(uri, sealed, opts) {
        return settled(async () => {
          const o = options(opts, ['key']);
          const params = { ...keyParams(o.own), uri: text(uri, 'uri'), sealed: toBase64(bytes(sealed, 'sealed')) };
          const r = await send('open', params, { signal: o.signal, deadline: deadlineOf(o) });
          return replyBytes(r.plaintext, 'plaintext');
        });
      }

      sealMany(items, opts) {
        return settled(async () => {
          const o = options(opts, ['key']);
          const encoded = encodeItems(items, 'items', (item, field) => {
            record(item, field, ['uri', 'plaintext']);
            const plaintext = bytes(item.plaintext, `${field}.plaintext`);
            return { param: { uri: text(item.uri, `${field}.uri`), plaintext: toBase64(plaintext) }, weight: plaintext.length };
          });
          if (encoded.length === 0) return [];
          return batch('sealMany', 'items', encoded, keyParams(o.own), o, 'sealMany',
            (r) => ({ sealed: replyBytes(r.sealed, 'sealed') }));
        });
      }

      openMany(items, opts) {
        return settled(async () => {
          const o = options(opts, ['key']);
          const encoded = encodeItems(items, 'items', (item, field) => {
            record(item, field, ['uri', 'sealed']);
            const sealed = bytes(item.sealed, `${field}.sealed`);
            return { param: { uri: text(item.uri, `${field}.uri`), sealed: toBase64(sealed) }, weight: sealed.length };
          });
          if (encoded.length === 0) return [];
          return batch('openMany', 'items', encoded, keyParams(o.own), o, 'openMany',
            (r) => ({ plaintext: replyBytes(r.plaintext, 'plaintext') }));
        });
      }

      // Raw signing: full access, and only where the administrator's policy allows it.
      sign(message, opts) {
        return settled(async () => {
          const o = options(opts, ['key', 'algorithm', 'signatureFormat']);
          const params = { ...keyParams(o.own), ...formatParam(o.own), message: toBase64(bytes(message, 'message')) };
          if (o.own.algorithm !== undefined) {
            params.algorithm = oneOf(o.own.algorithm, 'options.algorithm',
              ['rsa-pkcs1-sha256', 'rsa-pss-sha256', 'ecdsa-sha256', 'ecdsa-sha384', 'ed25519']);
          }
          return signatureOf(await send('sign', params, { signal: o.signal, deadline: deadlineOf(o) }));
        });
      }
    }

    // No method uses `this`: a method taken off the object still settles.
    function storageKey(kind, uri, opts) {
      return settled(async () => {
        const o = options(opts, ['key']);
        const params = { ...keyParams(o.own), kind, uri: text(uri, 'uri') };
        const r = await send('deriveStorageKey', params, { signal: o.signal, deadline: deadlineOf(o) });
        return replyHex(r.storageKey, 'storageKey');
      });
    }


    const api = new P2pcp();
    for (const [name, value] of Object.entries(helpers)) {
      Object.defineProperty(api, name, { value, enumerable: true });
    }
    Object.freeze(P2pcp.prototype);

    function receive(m) {
      const waiter = pending.get(m.id);
      if (!waiter) {
        return;
      }
      if (m.error) {
        waiter.reject(fail(typeof m.error.code === 'string' ? m.error.code : 'INTERNAL_ERROR',
          String(m.error.message ?? 'unknown error'), isPlainObject(m.error.data) ? m.error.data : {}));
      } else if (!isPlainObject(m.result) && !Array.isArray(m.result)) {
        // Every agent result is an object or an array: anything else is a host
        // that does not speak the protocol, not a result to read fields from.
        waiter.reject(fail('HOST_PROTOCOL_ERROR', 'the native host answered without a result'));
      } else {
        waiter.resolve(m.result);
      }
    }
    // Every call in flight fails with `error` (the connection is gone).
    function failAll(error) {
      for (const waiter of [...pending.values()]) waiter.reject(error);
    }
    const emit = (type, detail) => api.dispatchEvent(new CustomEvent(type, { detail: detail ?? {} }));
    return { api, receive, emit, failAll, send, settled, deadlineOf };
  }

  return Object.freeze({
    create, P2pcpError, fail, bad, record, oneOf, options, settle, isPlainObject, describe, opaqueError,
    DEFAULT_TIMEOUT_MS,
  });
})();
