// SPDX-License-Identifier: Apache-2.0
// P2pcpWs: the p2pcp page API over the agent's loopback WebSocket front door,
// for browsers without the extension (docs/front-door.md). A page includes the
// shared core first, then this file:
//   <script src="p2pcp-core.js"></script>   (browser-extension/p2pcp-core.js)
//   <script src="p2pcp-ws.js"></script>
//   const p2pcp = await P2pcpWs.connect({ onPairingCode: (code) => show(code) }); // port 24872
//   await p2pcp.pair();                      // once per origin; the person confirms the code
// The object has the methods, options, checks, outputs and error codes of
// window.p2pcp (browser-extension/p2pcp.d.ts; both are p2pcp-core.js), plus
// pair() and close(). Declared in p2pcp-ws.d.ts. It is not part of the extension.
//
// Like window.p2pcp it runs in the page's world and holds nothing secret: the
// agent takes the page's origin from the browser's Origin header, and decides
// pairing, consent and the PIN itself.
(() => {
  'use strict';
  const core = globalThis.P2pcpCore;
  if (!core) {
    throw new Error('p2pcp-ws.js needs p2pcp-core.js: include <script src="p2pcp-core.js"> before it');
  }
  if (globalThis.P2pcpWs) {
    return;
  }
  const { P2pcpError, fail, bad, record, oneOf, options, settle, isPlainObject, describe } = core;
  // The names the front door answers on (a Host header of any other name is refused, 403).
  const HOSTS = ['127.0.0.1', '[::1]', 'localhost'];
  // The agent's default port (agent.json "webSocket": {}, docs/configuration.md;
  // kDefaultWebSocketPort in agent/core): a page connects without asking the person.
  const DEFAULT_PORT = 24872;
  // Opening the connection may wait on the browser's Local Network Access
  // prompt (docs/front-door.md): room for the person to read it.
  const DEFAULT_CONNECT_TIMEOUT_MS = 120000;
  const EVENTS = ['tokeninserted', 'tokenremoved'];
  const NOTIFIED_EVENTS = { tokenInserted: 'tokeninserted', tokenRemoved: 'tokenremoved' };
  const ownOrigin = self.origin;
  const opaque = ownOrigin === 'null' || !/^https?:\/\//.test(ownOrigin);

  function callback(value, field) {
    if (value !== undefined && typeof value !== 'function') {
      throw bad(field, `must be a function, not ${describe(value)}`);
    }
    return value;
  }

  // The agent's error member as the page API's {code, message, data}.
  const errorOf = (e) => ({
    code: typeof e?.data?.error === 'string' ? e.data.error : 'INTERNAL_ERROR',
    message: String(e?.message ?? 'unknown error'),
    data: isPlainObject(e?.data) ? e.data : {},
  });

  const unreachable = (url, why) => fail('AGENT_UNAVAILABLE',
    `cannot reach the p2pcp agent at ${url} (${why}): it is not running, its WebSocket front door is off ` +
    '(agent.json "webSocket": {}), on another port, or the browser did not let the page connect ' +
    '(Local Network Access)', { url });

  // Opens the socket: resolves when it is open, rejects with a P2pcpError.
  function open(url, signal, timeout) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(fail('ABORTED', 'the call was aborted', { reason: String(signal.reason ?? '') }));
        return;
      }
      let socket;
      try {
        socket = new WebSocket(url);
      } catch (e) {
        reject(unreachable(url, `the browser refused to open it: ${e?.message ?? e}`));
        return;
      }
      const done = (how, value) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.onopen = null;
        socket.onclose = null;
        how(value);
      };
      const giveUp = (error) => {
        socket.close();
        done(reject, error);
      };
      const onAbort = () => giveUp(fail('ABORTED', 'the call was aborted', { reason: String(signal.reason ?? '') }));
      const timer = setTimeout(() => giveUp(fail('TIMEOUT', `${url} did not open within ${timeout} ms (options.timeout)`,
        { timeout })), timeout);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.onopen = () => done(resolve, socket);
      // Browsers tell a page nothing about why (1006): refused, off, or a 403 of the upgrade checks.
      socket.onclose = (event) => done(reject, unreachable(url, `closed before it opened, code ${event.code}`));
    });
  }

  // The page API over one open connection.
  function client(socket, url, connectOnPairingCode) {
    let closed = null; // {code, reason, byPage} once the connection is gone
    const pairingCallbacks = new Map(); // pair request id -> onPairingCode
    let wantEvents = false;
    let subscribed = false;

    const closedError = () => {
      const data = { url, closeCode: closed.code, closeReason: closed.reason };
      if (closed.byPage) {
        return fail('AGENT_UNAVAILABLE', 'the page closed its connection to the p2pcp agent; connect again', data);
      }
      const revoked = closed.reason === 'pairing revoked';
      return fail('AGENT_UNAVAILABLE', revoked
        ? 'the person revoked this page\'s pairing and the agent closed the connection: connect again and pair'
        : `the connection to the p2pcp agent closed (code ${closed.code}${closed.reason ? `: ${closed.reason}` : ''}); connect again`,
      data);
    };

    const p2pcp = core.create({
      opaque: false,
      post: ({ id, method, params }) => {
        if (closed) throw closedError();
        socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      },
      listen: (type) => {
        if (EVENTS.includes(type)) {
          wantEvents = true;
          subscribe();
        }
      },
    });

    // Token events: one subscription per connection. Before pairing the agent
    // refuses it (NOT_PAIRED), so pair() asks again.
    function subscribe() {
      if (subscribed || closed) return;
      subscribed = true;
      p2pcp.send('subscribe', {}, { deadline: Date.now() + 30000 }).catch(() => { subscribed = false; });
    }

    function onNotification(m) {
      const params = isPlainObject(m.params) ? m.params : {};
      if (m.method === 'pairingCode') {
        const show = pairingCallbacks.get(params.id);
        if (show && typeof params.code === 'string' && /^[0-9]{3}-[0-9]{3}$/.test(params.code)) {
          try {
            show(params.code, { expiresIn: Number.isSafeInteger(params.expiresIn) ? params.expiresIn : 120 });
          } catch (e) {
            globalThis.reportError?.(e); // the page's bug: the pairing goes on
          }
        }
      } else if (NOTIFIED_EVENTS[m.method]) {
        p2pcp.emit(NOTIFIED_EVENTS[m.method], {});
      }
    }

    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') return; // the agent sends text frames only
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!isPlainObject(m)) return;
      if (m.id === undefined && typeof m.method === 'string') {
        onNotification(m);
      } else if (m.id === null && m.error) {
        // The agent could not read a request far enough to find its id: this
        // client sends only well-formed requests, so nothing here can tell
        // which one it was; all in flight fail (the next calls work).
        const e = errorOf(m.error);
        p2pcp.failAll(fail('HOST_PROTOCOL_ERROR', `the agent could not read a request (${e.code}: ${e.message})`, {}));
      } else {
        p2pcp.receive({ id: m.id, result: m.result, error: m.error ? errorOf(m.error) : undefined });
      }
    };
    socket.onclose = (event) => {
      closed ??= { code: event.code, reason: event.reason, byPage: false };
      p2pcp.failAll(closedError());
      p2pcp.emit('close', { code: closed.code, reason: closed.reason });
    };

    const api = p2pcp.api;
    // Pairs this page's origin with the agent: the agent sends a code, which
    // onPairingCode shows, and asks the person (pinentry) whether the page shows
    // that code. Already paired: {paired: true} at once, no dialog.
    const pair = (opts) => p2pcp.settled(async () => {
      const o = options(opts, ['onPairingCode']);
      const show = callback(o.own.onPairingCode, 'options.onPairingCode') ?? connectOnPairingCode;
      if (!show) {
        throw bad('options.onPairingCode', 'is required (here or in connect): the page must show the person the pairing code');
      }
      let id = null;
      try {
        const result = await p2pcp.send('pair', {}, {
          signal: o.signal, deadline: p2pcp.deadlineOf(o),
          onPosted: (posted) => { id = posted; pairingCallbacks.set(posted, show); },
        });
        if (wantEvents) subscribe();
        return result;
      } finally {
        pairingCallbacks.delete(id);
      }
    });
    // Closes the connection; calls in flight and later calls fail with AGENT_UNAVAILABLE.
    const close = () => {
      if (!closed) {
        closed = { code: 1000, reason: 'closed by the page', byPage: true };
        socket.close(1000);
        p2pcp.failAll(closedError());
      }
    };
    Object.defineProperty(api, 'pair', { value: pair, enumerable: true });
    Object.defineProperty(api, 'close', { value: close, enumerable: true });
    Object.defineProperty(api, 'url', { value: url, enumerable: true });
    Object.defineProperty(api, 'closed', { get: () => closed !== null, enumerable: true });
    return Object.freeze(api);
  }

  // Connects to the front door: {port?, host?, onPairingCode?, signal?, timeout?}.
  function connect(opts = {}) {
    return settle(async () => {
      const given = record(opts, 'options', ['port', 'host', 'onPairingCode', 'signal', 'timeout']);
      const o = options(opts, ['port', 'host', 'onPairingCode']);
      const port = given.port === undefined ? DEFAULT_PORT : given.port;
      if (!Number.isSafeInteger(port) || port < 1 || port > 65535) {
        throw bad('options.port', 'must be a whole number, 1 to 65535');
      }
      const host = oneOf(given.host ?? '127.0.0.1', 'options.host', HOSTS);
      const onPairingCode = callback(given.onPairingCode, 'options.onPairingCode');
      if (opaque) throw core.opaqueError();
      const url = `ws://${host}:${port}/`;
      const timeout = given.timeout === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : o.timeout;
      return client(await open(url, o.signal, timeout), url, onPairingCode);
    });
  }

  Object.defineProperty(globalThis, 'P2pcpWs', {
    value: Object.freeze({ connect, defaultPort: DEFAULT_PORT, P2pcpError }),
    enumerable: true,
  });
})();
