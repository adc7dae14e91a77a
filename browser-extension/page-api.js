// SPDX-License-Identifier: Apache-2.0
// window.p2pcp: the page's view of the person's p2pcp identity on their token.
// Runs in the page's own world, so it holds nothing secret and can be forged
// or replaced by the page; everything that matters (the origin, the consent,
// the PIN) is decided by the extension's background and the agent.
// The API is declared in p2pcp.d.ts and documented in docs/page-api.md.
//
// What the API does (checks, encodings, batches, timeouts) is p2pcp-core.js,
// which the manifest runs just before this file, in the same world; the same
// core serves clients/p2pcp-ws.js on the agent's WebSocket front door. This
// file is the extension's transport: window.postMessage to content.js, which
// holds the port to the extension's background.
(() => {
  'use strict';
  // Taken and removed before any script of the page runs (document_start):
  // the page never sees the global.
  const core = globalThis.P2pcpCore;
  delete globalThis.P2pcpCore;
  if (window.p2pcp || !core) {
    return;
  }
  const CHANNEL = 'p2pcp-v1';
  // A document with an opaque origin (a sandboxed frame, a CSP sandbox, a
  // data: URL) has no origin the agent could grant anything to, and messages
  // addressed to its URL's origin would never arrive: it is refused here.
  const ownOrigin = self.origin;
  const opaque = ownOrigin === 'null' || !/^https?:\/\//.test(ownOrigin);

  const p2pcp = core.create({
    opaque,
    post: ({ id, method, params }) =>
      window.postMessage({ channel: CHANNEL, to: 'extension', id, method, params }, ownOrigin),
    listen: () => window.postMessage({ channel: CHANNEL, to: 'extension', listen: true }, ownOrigin),
  });

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (event.source !== window || event.origin !== ownOrigin || !m || m.channel !== CHANNEL ||
        m.to !== 'page') {
      return;
    }
    if (m.event) {
      p2pcp.emit(m.event, m.detail);
      return;
    }
    p2pcp.receive(m);
  });

  Object.defineProperty(window, 'p2pcp', { value: Object.freeze(p2pcp.api), enumerable: true });
})();
