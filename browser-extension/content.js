// SPDX-License-Identifier: Apache-2.0
// The bridge between a page's window.p2pcp and the extension's background,
// in every frame (each frame its own bridge, its own port, its own origin).
// It takes from the page only the method name and its params; the page's
// origin is attached by the background from the browser's own sender data.
// Replies go back to the page's own origin only, never to "*". Every request
// with an id gets an answer, also when it cannot be passed on.
'use strict';
(() => {
  const CHANNEL = 'p2pcp-v1';
  const api = globalThis.browser ?? globalThis.chrome;
  // The document's origin (an about:blank frame's is its creator's); "null"
  // for an opaque one, which window.p2pcp refuses by itself.
  const ownOrigin = self.origin;
  if (ownOrigin === 'null' || !/^https?:\/\//.test(ownOrigin)) {
    return;
  }
  // The native host reads requests of at most 4 MiB (docs/page-api.md).
  const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
  let port = null;
  const inFlight = new Set();

  const toPage = (message) => window.postMessage({ channel: CHANNEL, to: 'page', ...message }, ownOrigin);
  const refuse = (id, code, message, data = {}) => toPage({ id, error: { code, message, data } });

  // Connected on the page's first use of window.p2pcp, not on every page load.
  function connect() {
    port = api.runtime.connect({ name: 'p2pcp-page' });
    port.onMessage.addListener((message) => {
      if (message?.id !== undefined) {
        inFlight.delete(message.id);
      }
      toPage(message);
    });
    port.onDisconnect.addListener(() => {
      port = null;
      // The extension was reloaded, updated or stopped: nothing will answer these any more.
      for (const id of inFlight) {
        refuse(id, 'EXTENSION_UNAVAILABLE', 'the p2pcp extension restarted or stopped; try again (after an update: load the page again)');
      }
      inFlight.clear();
    });
  }

  // What the host refuses before it can read an id (so its answer could not be
  // routed): a lone surrogate (JSON.stringify escapes it, the browser's own
  // JSON for the native host does not: PARSE_ERROR) and deep nesting (the
  // host's parser stops at 32 levels). The page API never nests beyond 4.
  const MAX_PARAMS_DEPTH = 16;
  const wellFormed = (value, depth = 1) => {
    if (typeof value === 'string') return value.isWellFormed();
    if (value && typeof value === 'object') {
      return depth <= MAX_PARAMS_DEPTH &&
        Object.entries(value).every(([k, v]) => k.isWellFormed() && wellFormed(v, depth + 1));
    }
    return true;
  };

  // The request as the port will carry it (JSON), or why it cannot go.
  function serialise(id, method, params) {
    let json;
    try {
      json = JSON.stringify({ id, method, params });
    } catch (e) {
      return { error: ['BAD_REQUEST', `the request cannot be serialised: ${e?.message ?? e}`] };
    }
    const size = json.length * 3 <= MAX_REQUEST_BYTES ? json.length : new TextEncoder().encode(json).length;
    if (size > MAX_REQUEST_BYTES) {
      return { error: ['MESSAGE_TOO_LARGE', `the request is ${size} bytes; the browser path takes at most ${MAX_REQUEST_BYTES}`, { limit: MAX_REQUEST_BYTES, size }] };
    }
    if (!wellFormed(params)) {
      return { error: ['BAD_REQUEST', `the request holds a string that is not well-formed Unicode (a lone surrogate), or params nested deeper than ${MAX_PARAMS_DEPTH} levels`] };
    }
    return { message: JSON.parse(json) };
  }

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (event.source !== window || event.origin !== ownOrigin || !m || m.channel !== CHANNEL ||
        m.to !== 'extension') {
      return;
    }
    if (m.listen === true) {
      try {
        if (!port) {
          connect();
        }
        port.postMessage({ listen: true }); // token events, for pages of this origin with access
      } catch {
        port = null; // the extension is gone: no events to listen for
      }
      return;
    }
    if (!Number.isSafeInteger(m.id)) {
      return; // nothing to answer to
    }
    if (typeof m.method !== 'string' || m.method.length > 64) {
      refuse(m.id, 'BAD_REQUEST', 'method must be a short string');
      return;
    }
    if (m.params !== undefined && (m.params === null || typeof m.params !== 'object' || Array.isArray(m.params))) {
      refuse(m.id, 'BAD_REQUEST', 'params must be an object');
      return;
    }
    const { message, error } = serialise(m.id, m.method, m.params ?? {});
    if (error) {
      refuse(m.id, ...error);
      return;
    }
    try {
      if (!port) {
        connect();
      }
      inFlight.add(m.id);
      port.postMessage(message);
    } catch (e) {
      inFlight.delete(m.id);
      port = null;
      refuse(m.id, 'EXTENSION_UNAVAILABLE', `the p2pcp extension cannot be reached: ${e?.message ?? e}`);
    }
  });
})();
