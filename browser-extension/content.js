// SPDX-License-Identifier: Apache-2.0
// The bridge between a page's window.p2pcp and the extension's background.
// It takes from the page only the method name and its params; the page's
// origin is attached by the background from the browser's own sender data.
// Replies go back to the page's own origin only, never to "*".
'use strict';
(() => {
  const CHANNEL = 'p2pcp-v1';
  const api = globalThis.browser ?? globalThis.chrome;
  const ownOrigin = window.location.origin;
  let port = null;
  const inFlight = new Set();

  const toPage = (message) => window.postMessage({ channel: CHANNEL, to: 'page', ...message }, ownOrigin);

  // Connected on the page's first use of window.p2pcp, not on every page load.
  function connect() {
    port = api.runtime.connect({ name: 'p2pcp-page' });
    port.onMessage.addListener((message) => {
      inFlight.delete(message.id);
      toPage(message);
    });
    port.onDisconnect.addListener(() => {
      port = null;
      // The extension was reloaded or updated: nothing will answer these any more.
      for (const id of inFlight) {
        toPage({ id, error: { code: 'AGENT_UNAVAILABLE', message: 'the p2pcp extension restarted; try again' } });
      }
      inFlight.clear();
    });
  }

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (event.source !== window || event.origin !== ownOrigin || !m || m.channel !== CHANNEL ||
        m.to !== 'extension') {
      return;
    }
    if (m.listen === true) {
      if (!port) {
        connect();
      }
      port.postMessage({ listen: true }); // token events, for pages of this origin with access
      return;
    }
    if (!Number.isSafeInteger(m.id) || typeof m.method !== 'string') {
      return;
    }
    const params = m.params && typeof m.params === 'object' && !Array.isArray(m.params) ? m.params : {};
    if (!port) {
      connect();
    }
    inFlight.add(m.id);
    port.postMessage({ id: m.id, method: m.method, params });
  });
})();
