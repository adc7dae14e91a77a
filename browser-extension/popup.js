// SPDX-License-Identifier: Apache-2.0
// The popup: agent and token status, the keys (the default marked, another
// one made the default with a click), the sites with consent (revocable),
// the pages paired with the WebSocket front door (revocable), and a lock button. Everything goes through the background to the host.
'use strict';

const api = globalThis.browser ?? globalThis.chrome;

function call(method, params = {}) {
  return new Promise((resolve, reject) => {
    api.runtime.sendMessage({ method, params }, (reply) => {
      if (api.runtime.lastError) {
        reject(new Error(api.runtime.lastError.message));
      } else if (!reply) {
        reject(new Error('no answer from the extension'));
      } else if (reply.error) {
        reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      } else {
        resolve(reply.result);
      }
    });
  });
}

function item(text, button) {
  const li = document.createElement('li');
  const span = document.createElement('span');
  span.textContent = text;
  li.append(span);
  if (button) {
    li.append(button);
  }
  return li;
}

function showError(e) {
  document.getElementById('error').textContent = e.code ? `${e.code}: ${e.message}` : e.message;
}

async function refresh() {
  document.getElementById('error').textContent = '';
  try {
    const status = await call('status');
    document.getElementById('agent').textContent =
      `p2pcp-agent ${status.version}, protocol ${status.protocol}`;
    const tokens = document.getElementById('tokens');
    tokens.replaceChildren(...status.tokens.map((t) =>
      item(`${t.label} (${t.model}) — PIN ${t.pinState}${t.loggedIn ? ', unlocked' : ''}`)));
    if (status.tokens.length === 0) {
      tokens.append(item('No token. Insert your card or token.'));
    }
    const keys = await call('listKeys');
    document.getElementById('keys').replaceChildren(...keys.map((k) => {
      const text = `${k.label} (${k.type}) ${k.fingerprint.slice(0, 16)}…`;
      if (k.default) {
        const marked = item(text, Object.assign(document.createElement('strong'), { textContent: 'default' }));
        marked.classList.add('default');
        return marked;
      }
      // The fingerprint names exactly this key, wherever its token sits.
      const choose = document.createElement('button');
      choose.type = 'button';
      choose.textContent = 'Make default';
      choose.title = 'Sites and programs that name no key will use this one';
      choose.addEventListener('click', () => call('setDefaultKey', { key: k.fingerprint }).then(refresh, showError));
      return item(text, choose);
    }));
    if (keys.length === 0) {
      document.getElementById('keys').append(item('No key on the tokens present.'));
    }
    const consents = await call('listConsents');
    const list = document.getElementById('consents');
    list.replaceChildren(...consents.map((c) => {
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.textContent = c.access === 'none' ? 'Forget' : 'Revoke';
      revoke.addEventListener('click', () => call('revokeConsent', { origin: c.origin }).then(refresh, showError));
      const what = c.access === 'full' ? 'full access'
        : c.access === 'site' ? (c.space && c.space !== c.origin ? `site access (space of ${c.space})` : 'site access')
          : 'denied';
      return item(`${c.origin} — ${what}`, revoke);
    }));
    if (consents.length === 0) {
      list.append(item('None yet.'));
    }
    // Pages that reach the agent without the extension: revoking closes their
    // connections and they must pair again; a refusal can be forgotten.
    const { pairings } = await call('listPairings');
    const paired = document.getElementById('pairings');
    paired.replaceChildren(...pairings.map((p) => {
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.textContent = p.state === 'paired' ? 'Revoke' : 'Forget';
      revoke.addEventListener('click', () => call('revokePairing', { origin: p.origin }).then(refresh, showError));
      return item(`${p.origin} — ${p.state === 'paired' ? 'paired' : 'refused'}`, revoke);
    }));
    if (pairings.length === 0) {
      paired.append(item('None.'));
    }
  } catch (e) {
    document.getElementById('agent').textContent = 'not reachable';
    showError(e);
  }
}

document.getElementById('lock').addEventListener('click', () => call('lock').then(refresh, showError));
refresh();
