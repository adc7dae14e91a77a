// SPDX-License-Identifier: Apache-2.0
// My first p2pcp app: private notes sealed by the person's token key, and a
// public "last saved" block signed on the token and checked with WebCrypto.
// docs/page-api.md walks through it; the tests type-check it with tsc and
// run it in Chromium with the real extension, host, agent and token.

const show = (id: string, text: string) => {
  document.getElementById(id)!.textContent = text;
};

// 1. The API: window.p2pcp when the extension is installed and allows this
//    site; else the agent's WebSocket front door (docs/front-door.md), when the
//    page included p2pcp-ws.js (on the default port 24872 of "webSocket": {},
//    or the port of ?p2pcp-port=N when the person chose another one). The
//    front door pairs the site once: the page shows a code, the agent's
//    dialog shows the same code, and the person confirms. Both are a P2pcp.Api.
async function connect(): Promise<P2pcp.Api> {
  if (window.p2pcp) return window.p2pcp;
  if (!window.P2pcpWs) throw new Error('install the p2pcp extension, or include p2pcp-ws.js');
  const chosen = new URLSearchParams(location.search).get('p2pcp-port');
  const p2pcp = await window.P2pcpWs.connect(chosen ? { port: Number(chosen) } : {});
  await p2pcp.pair({ onPairingCode: (code) => show('status', `pairing: check that p2pcp shows the code ${code}`) });
  return p2pcp;
}

// 2. Choose a key: the person's default, else the first one. Listing keys
//    asks the person, once, to allow this site.
async function chooseKey(p2pcp: P2pcp.Api): Promise<string> {
  const keys = await p2pcp.listKeys();
  const key = keys.find((k) => k.default) ?? keys[0];
  if (!key) throw new Error('no key on the token');
  show('who', `signed in with ${key.label} (${key.type}, ${key.fingerprint.slice(0, 16)}…)`);
  return key.fingerprint;
}

// 3. Save: seal the note for "/notes/first" and keep the box under its
//    private storage key; sign a public block that says when, and check that
//    signature here, as any other p2pcp peer would.
async function save(p2pcp: P2pcp.Api, key: string, note: string): Promise<boolean> {
  const uri = '/notes/first';
  const sealed = await p2pcp.seal(uri, new TextEncoder().encode(note), { key });
  const storageKey = await p2pcp.privateStorageKey(uri, { key });
  localStorage.setItem(p2pcp.toHex(storageKey), p2pcp.toBase64(sealed));

  const payload = new TextEncoder().encode(JSON.stringify({ saved: Date.now() }));
  const seq = BigInt(Date.now());
  const block = await p2pcp.signBlock({ uri: `${location.origin}/last-saved`, kind: 'public', seq, payload }, { key });
  return verifyBlock(block, seq, payload);
}

// The block message of docs/scheme.md: "p2pcp/v1/block\0" ‖ storageKey ‖ u64(seq) ‖ SHA-256(payload).
async function verifyBlock(block: P2pcp.SignedBlock, seq: bigint, payload: Uint8Array): Promise<boolean> {
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, seq);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(payload)));
  const message = new Uint8Array([...new TextEncoder().encode('p2pcp/v1/block\0'), ...block.storageKey, ...seqBytes, ...hash]);
  if (block.algorithm !== 'ecdsa-sha256') return false; // this example knows P-256 keys only
  const publicKey = await crypto.subtle.importKey('spki', block.publicKey, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, block.signature, message);
}

// 4. Load: find the box again and open it.
async function load(p2pcp: P2pcp.Api, key: string): Promise<string | null> {
  const uri = '/notes/first';
  const storageKey = await p2pcp.privateStorageKey(uri, { key });
  const stored = localStorage.getItem(p2pcp.toHex(storageKey));
  if (stored === null) return null;
  const plaintext = await p2pcp.open(uri, p2pcp.fromBase64(stored), { key });
  return new TextDecoder().decode(plaintext);
}

// 5. Every failure is a P2pcpError with a code to act on.
function explain(e: unknown): string {
  const P2pcpError = (window.p2pcp ?? window.P2pcpWs)?.P2pcpError;
  if (!P2pcpError || !(e instanceof P2pcpError)) return String(e);
  switch (e.code) {
    case 'CONSENT_DENIED': return 'you did not allow this site';
    case 'AGENT_UNAVAILABLE': return 'the p2pcp agent cannot be reached';
    case 'NOT_PAIRED': return 'this page is not paired with p2pcp';
    case 'PIN_INCORRECT': return `wrong PIN (${e.data.pinState ?? 'unknown'} tries left)`;
    case 'PIN_CANCELLED': return 'PIN dialog closed';
    case 'TIMEOUT': return 'no answer in time';
    default: return `${e.code}: ${e.message}`;
  }
}

let connected: Promise<P2pcp.Api> | null = null;
const api = () => (connected ??= connect().catch((e) => { connected = null; throw e; }));
let chosenKey: Promise<string> | null = null;
const key = async () => (chosenKey ??= chooseKey(await api()));

export async function saveNote(): Promise<boolean> {
  const note = (document.getElementById('note') as HTMLTextAreaElement).value;
  const verified = await save(await api(), await key(), note);
  show('status', verified ? 'saved; the public block verifies' : 'saved, but the block did not verify');
  return verified;
}

export async function loadNote(): Promise<string | null> {
  const note = await load(await api(), await key());
  show('status', note === null ? 'no note yet' : `loaded: ${note}`);
  return note;
}

document.getElementById('save')!.addEventListener('click', () => saveNote().catch((e) => show('status', explain(e))));
document.getElementById('load')!.addEventListener('click', () => loadNote().catch((e) => show('status', explain(e))));
// For the tests (tests/browser/pageapi.test.mjs): the same steps, outcome returned.
(window as unknown as { firstApp: object }).firstApp = { saveNote, loadNote, explain };
