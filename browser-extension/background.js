// SPDX-License-Identifier: Apache-2.0
// The extension's privileged side: the only place that talks to the native
// host. Every message it sends names its sender's origin, taken from the
// browser's own sender data (never from anything a page says): a web page's
// origin, or the extension's own origin for its popup. The native host and
// the agent apply the caller table to that (docs/protocol.md, "Who may call
// what"); the lists here only spare the host requests it would refuse anyway.
'use strict';

const api = globalThis.browser ?? globalThis.chrome;
const HOST = 'dev.p2pcp.agent';
// The extension's own pages speak as the extension's origin.
const OWN_ORIGIN = new URL(api.runtime.getURL('')).origin;

// What a web page may ask for. Site access for the page's origin is asked by
// the agent through pinentry on the first request that needs it; full access
// only when the page calls requestAccess.
const PAGE_METHODS = new Set([
  'hello', 'requestAccess', 'listKeys', 'getPublicKey', 'deriveStorageKey', 'deriveStorageKeys',
  'signBlock', 'signBlocks', 'signLogin', 'seal', 'open', 'sealMany', 'openMany', 'sign',
]);
// The native host reads requests of at most 4 MiB; a bigger one would get an
// answer it cannot address (id null), so it is refused here with its own id.
const MAX_HOST_REQUEST_BYTES = 4 * 1024 * 1024;
// What the popup (the person, in the extension's own page) may ask for.
const POPUP_METHODS = new Set([
  'hello', 'status', 'listKeys', 'setDefaultKey', 'listConsents', 'revokeConsent', 'listPairings',
  'revokePairing', 'lock',
]);

let native = null;
let nextId = 1;
const inFlight = new Map(); // host request id -> reply callback
const pagePorts = new Map(); // port -> { origin, listening }
const subscribedOrigins = new Set(); // origins the current host connection subscribed for
let lastHostError = null; // an error the host sent just before it exited

const errorOf = (error) => ({
  code: error?.data?.error ?? 'INTERNAL_ERROR',
  message: error?.message ?? 'unknown error',
  data: error?.data ?? {},
});

// The browser's reason for closing the host port, as a typed code a page can
// act on (docs/page-api.md). Chromium's words: "Specified native messaging host
// not found.", "Access to the specified native messaging host is forbidden."
// (the manifest's allowed_origins), "Access to the native messaging host was
// disabled by the system administrator." (NativeMessagingBlocklist and
// NativeMessagingAllowlist), "Native host has exited."; Firefox says "No such
// native application NAME" both for a missing manifest and for one whose
// allowed_extensions does not list the add-on.
function hostError(reason) {
  const said = ` (the browser said: ${reason})`;
  if (/no such native application/i.test(reason)) {
    return {
      code: 'HOST_NOT_FOUND',
      message: `no host manifest ${HOST}.json that lists this add-on in allowed_extensions: ` +
        `run p2pcp install-browser-hosts${said}`,
      data: {},
    };
  }
  if (/disabled by the system administrator/i.test(reason)) {
    return {
      code: 'HOST_BLOCKED_BY_POLICY',
      message: `the browser's policy does not let extensions start the native messaging host ${HOST}: ` +
        `the administrator lists it in NativeMessagingAllowlist (or removes the NativeMessagingBlocklist entry)${said}`,
      data: {},
    };
  }
  if (/forbidden/i.test(reason)) {
    return {
      code: 'HOST_FORBIDDEN',
      message: `the host manifest ${HOST}.json does not list this extension in allowed_origins, ` +
        `or the browser's policy blocks the host: run p2pcp install-browser-hosts with this extension's id${said}`,
      data: {},
    };
  }
  if (/not found/i.test(reason)) {
    return { code: 'HOST_NOT_FOUND', message: `no host manifest ${HOST}.json where the browser looks: run p2pcp install-browser-hosts${said}`, data: {} };
  }
  return { code: 'AGENT_UNAVAILABLE', message: reason, data: {} };
}

function nativePort() {
  if (native) {
    return native;
  }
  lastHostError = null;
  native = api.runtime.connectNative(HOST);
  native.onMessage.addListener(onHostMessage);
  // A new host process knows of no subscription: ask again for the pages that listen.
  subscribedOrigins.clear();
  for (const state of pagePorts.values()) {
    if (state.listening) {
      subscribe(state.origin);
    }
  }
  native.onDisconnect.addListener((port) => {
    const reason = api.runtime.lastError?.message ?? port.error?.message ?? 'the native host exited';
    native = null;
    const error = lastHostError ?? hostError(reason);
    const waiting = [...inFlight.values()];
    inFlight.clear();
    for (const reply of waiting) {
      reply({ error });
    }
  });
  return native;
}

function onHostMessage(message) {
  if (message.id === undefined && typeof message.method === 'string') {
    // Token events reach only pages of the origin the agent addressed them to
    // (origins with access); they carry nothing that identifies the token.
    const event = { tokenInserted: 'tokeninserted', tokenRemoved: 'tokenremoved' }[message.method];
    if (event && typeof message.origin === 'string') {
      for (const [port, state] of pagePorts) {
        if (state.listening && state.origin === message.origin) {
          port.postMessage({ event, detail: {} });
        }
      }
    }
    return;
  }
  if (message.id === null && message.error) {
    // The host could not read a request far enough to find its id. With one
    // request in flight it is that one's answer; with several, none of them
    // can be told apart, so all fail (the next requests work as before).
    const hostError = errorOf(message.error);
    const waiting = [...inFlight.entries()];
    // Kept only when it answered no one: the reason, should the host exit next.
    lastHostError = waiting.length === 0 ? hostError : null;
    if (waiting.length === 1) {
      inFlight.clear();
      waiting[0][1]({ error: hostError });
    } else if (waiting.length > 1) {
      inFlight.clear();
      const error = {
        code: 'HOST_PROTOCOL_ERROR',
        message: `the native host could not read one of ${waiting.length} requests in flight ` +
          `(${hostError.code}: ${hostError.message}); none of them was answered, try again`,
        data: { hostError: hostError.code },
      };
      for (const [, reply] of waiting) {
        reply({ error });
      }
    }
    return;
  }
  const reply = inFlight.get(message.id);
  if (!reply) {
    return;
  }
  inFlight.delete(message.id);
  reply(message.error ? { error: errorOf(message.error) } : { result: message.result });
}

// What the host refuses before it can read an id (so its answer could not be
// routed, and would fail every request in flight): a lone surrogate
// (JSON.stringify escapes it, the browser's own JSON for the native host does
// not: PARSE_ERROR) and nesting beyond the host parser's 32 levels.
const MAX_REQUEST_DEPTH = 17; // the request object, then params (content.js: 16)
function wellFormed(value, depth = 1) {
  if (typeof value === 'string') return value.isWellFormed();
  if (value && typeof value === 'object') {
    return depth <= MAX_REQUEST_DEPTH &&
      Object.entries(value).every(([k, v]) => k.isWellFormed() && wellFormed(v, depth + 1));
  }
  return true;
}

// Why a request cannot go to the host as it is, or null: what the host would
// refuse without an id to answer to is refused here with one.
function unsendable(request) {
  let json;
  try {
    json = JSON.stringify(request);
  } catch (e) {
    return { code: 'BAD_REQUEST', message: `the request cannot be serialised: ${e?.message ?? e}`, data: {} };
  }
  if (!wellFormed(request)) {
    return { code: 'BAD_REQUEST', message: `the request holds a string that is not well-formed Unicode (a lone surrogate), or nests deeper than ${MAX_REQUEST_DEPTH} levels`, data: {} };
  }
  const size = json.length * 3 <= MAX_HOST_REQUEST_BYTES ? json.length : new TextEncoder().encode(json).length;
  if (size > MAX_HOST_REQUEST_BYTES) {
    return {
      code: 'MESSAGE_TOO_LARGE',
      message: `the request is ${size} bytes; the native host takes at most ${MAX_HOST_REQUEST_BYTES}`,
      data: { limit: MAX_HOST_REQUEST_BYTES, size },
    };
  }
  return null;
}

function toHost(method, params, origin, reply) {
  const id = nextId++;
  const request = { id, method, params, origin };
  const refused = unsendable(request);
  if (refused) {
    reply({ error: refused });
    return;
  }
  inFlight.set(id, reply);
  try {
    nativePort().postMessage(request);
  } catch (e) {
    inFlight.delete(id);
    reply({ error: { code: 'AGENT_UNAVAILABLE', message: String(e?.message ?? e), data: {} } });
  }
}

// Token events for an origin: one agent subscription per origin with a listening page.
function subscribe(origin) {
  if (!subscribedOrigins.has(origin)) {
    subscribedOrigins.add(origin);
    toHost('subscribe', {}, origin, () => {});
  }
}

// The origin of the frame whose content script connected, from the browser's
// sender data for that frame (never the tab's top page): Chromium gives the
// frame's origin in sender.origin ("null" for an opaque one); where a browser
// gives only sender.url, the origin of the frame's URL. An about:blank frame
// without sender.origin, a data: frame or an opaque origin has none.
function senderOrigin(sender) {
  let origin = sender.origin;
  if (origin === undefined && typeof sender.url === 'string') {
    try {
      origin = new URL(sender.url).origin;
    } catch {
      origin = null;
    }
  }
  return typeof origin === 'string' && /^https?:\/\//.test(origin) ? origin : null;
}

api.runtime.onConnect.addListener((port) => {
  if (port.name !== 'p2pcp-page' || port.sender?.id !== api.runtime.id || !port.sender?.tab) {
    port.disconnect();
    return;
  }
  const origin = senderOrigin(port.sender);
  pagePorts.set(port, { origin, listening: false });
  port.onDisconnect.addListener(() => pagePorts.delete(port));
  port.onMessage.addListener((message) => {
    const answer = (reply) => {
      if (pagePorts.has(port)) {
        port.postMessage({ id: message.id, ...reply });
      }
    };
    if (!origin) {
      answer({ error: { code: 'NOT_ALLOWED', message: 'p2pcp works in documents with an http or https origin only (not in sandboxed frames or opaque origins)', data: {} } });
    } else if (message.listen === true) {
      pagePorts.get(port).listening = true;
      subscribe(origin);
    } else if (!PAGE_METHODS.has(message.method)) {
      answer({ error: { code: 'NOT_ALLOWED_BY_POLICY', message: `pages cannot call "${String(message.method).slice(0, 64)}"`, data: {} } });
    } else if (!Number.isSafeInteger(message.id) || !message.params || typeof message.params !== 'object' || Array.isArray(message.params)) {
      answer({ error: { code: 'BAD_REQUEST', message: 'a request needs an integer id and params as an object', data: {} } });
    } else {
      toHost(message.method, message.params, origin, answer);
    }
  });
});

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  // Only the extension's own popup page: web pages cannot load it (it is not a
  // web-accessible resource), and content scripts report their page's URL.
  const fromPopup = sender.id === api.runtime.id &&
    typeof sender.url === 'string' && sender.url.startsWith(api.runtime.getURL('popup.html'));
  if (!fromPopup || !POPUP_METHODS.has(message?.method)) {
    return false;
  }
  toHost(message.method, message.params ?? {}, OWN_ORIGIN, sendResponse);
  return true; // answered asynchronously
});
