// SPDX-License-Identifier: Apache-2.0
// The p2pcp flow, as a p2pcp web app would run it: identity, storage keys,
// a signed public block (verified here with WebCrypto), a sealed private
// block, and an index-server login. window.demoResult holds the outcome for
// the headless run (demo/run.mjs).
'use strict';

const enc = new TextEncoder();
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// ECDSA signatures come as IEEE P1363 (r || s): WebCrypto verifies them as they are.
async function verify(type, spki, signature, message) {
  if (type === 'ec-p256' || type === 'ec-p384') {
    const [curve, hash] = type === 'ec-p256' ? ['P-256', 'SHA-256'] : ['P-384', 'SHA-384'];
    const key = await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: curve }, false, ['verify']);
    return crypto.subtle.verify({ name: 'ECDSA', hash }, key, signature, message);
  }
  if (type === 'rsa') {
    const key = await crypto.subtle.importKey('spki', spki, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
    return crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, signature, message);
  }
  const key = await crypto.subtle.importKey('spki', spki, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify('Ed25519', key, signature, message);
}

const steps = [];
function report(name, ok, detail) {
  steps.push({ name, ok, detail });
  const li = document.createElement('li');
  li.className = ok ? 'ok' : 'fail';
  li.append(`${name}: `);
  const code = document.createElement('code');
  code.textContent = detail;
  li.append(code);
  document.getElementById('steps').append(li);
}

async function runFlow() {
  const p2pcp = window.p2pcp;
  if (!p2pcp) {
    report('extension', false, 'window.p2pcp is missing: install the p2pcp extension');
    return;
  }
  const origin = window.location.origin;
  const hex = p2pcp.toHex;
  const identity = await p2pcp.identity(); // the first request asks the person for site access
  const spki = identity.spki;
  report('identity (site access)', true, `${identity.type} key, fingerprint ${identity.fingerprint}`);

  const publicKey = async (uri) =>
    new Uint8Array(await crypto.subtle.digest('SHA-256', concat(enc.encode('p2pcp/v1/public\0'), spki, enc.encode(uri))));
  const mine = await publicKey('/profile');
  const agents = await p2pcp.publicStorageKey('/profile');
  report('public storage key of /profile', same(mine, agents), `page (WebCrypto) ${hex(mine)} = agent ${hex(agents)}`);

  const notesKey = await p2pcp.privateStorageKey('/notes');
  report('private storage key of /notes in this site\u2019s space', notesKey.length === 32, hex(notesKey));

  // Many at once: one request per batch instead of one per uri.
  const uris = Array.from({ length: 1000 }, (_, i) => `/files/${i}`);
  const started = performance.now();
  const many = await p2pcp.deriveStorageKeys(uris, { kind: 'private' });
  const manyOk = many.length === 1000 && many.every((r) => r.storageKey?.length === 32);
  report('1000 private storage keys in one deriveStorageKeys call', manyOk, `${Math.round(performance.now() - started)} ms`);

  // With site access a page signs public blocks under its own origin only.
  const scores = enc.encode(JSON.stringify({ game: 'demo', best: 42 }));
  const scoresUri = `${origin}/scores`;
  const block = await p2pcp.signBlock({ uri: scoresUri, kind: 'public', seq: 1, payload: scores });
  const blockMessage = concat(enc.encode('p2pcp/v1/block\0'), block.storageKey, u64(1),
    new Uint8Array(await crypto.subtle.digest('SHA-256', scores)));
  const blockOk = same(block.storageKey, await publicKey(scoresUri)) &&
    await verify(identity.type, spki, block.signature, blockMessage);
  report(`public block ${scoresUri} signed on the token`, blockOk, `${block.algorithm}, verified in the page with WebCrypto`);

  const notes = enc.encode('my private notes');
  const sealed = await p2pcp.seal('/notes', notes);
  const opened = new TextDecoder().decode(await p2pcp.open('/notes', sealed));
  report('private /notes block sealed and opened', opened === 'my private notes', `${sealed.length} bytes sealed, opened: "${opened}"`);

  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const login = await p2pcp.signLogin({ indexServer: 'wss://index.p2pcp.example/', nonce, timestamp: Math.floor(Date.now() / 1000) });
  const namesOrigin = new TextDecoder().decode(login.message).startsWith(`p2pcp/v1/login\0${origin}\0`);
  const loginOk = namesOrigin && await verify(identity.type, spki, login.signature, login.message);
  report('index-server login signed for this origin', loginOk, `${origin} \u2192 wss://index.p2pcp.example/`);

  // The person's own p2pcp app asks for full access: their whole space, their profile.
  const access = await p2pcp.requestAccess('full');
  report('full access granted by the person', access.access === 'full', JSON.stringify(access));
  const fullNotes = await p2pcp.privateStorageKey('/notes');
  report('private storage key of /notes in the full space', !same(fullNotes, notesKey), hex(fullNotes));
  const profile = enc.encode(JSON.stringify({ name: 'Alice', bio: 'p2pcp on a token' }));
  const profileBlock = await p2pcp.signBlock({ storageKey: agents, seq: 1, payload: profile });
  const profileMessage = concat(enc.encode('p2pcp/v1/block\0'), agents, u64(1),
    new Uint8Array(await crypto.subtle.digest('SHA-256', profile)));
  const profileOk = await verify(identity.type, spki, profileBlock.signature, profileMessage);
  report('public /profile block signed on the token', profileOk, `${profileBlock.algorithm}, verified in the page with WebCrypto`);
}

document.getElementById('run').addEventListener('click', () => runFlow().catch((e) => report('error', false, `${e.code ?? ''} ${e.message}`)));
window.demoRun = async () => {
  try {
    await runFlow();
  } catch (e) {
    report('error', false, `${e.code ?? ''} ${e.message}`);
  }
  return steps;
};
