// SPDX-License-Identifier: Apache-2.0
// A quick agent-level timing of the bulk methods against their single forms,
// over the agent's Unix socket (no browser): 2048 private storage keys and 256
// private block signatures, one call each against one batch. Run it against an
// agent with the fixture keys, e.g.
//   tests/cli/with-token-agent.sh out/build/release node bench/bulk_socket_timing.mjs
// (the browser's native-messaging path adds 2-4 ms to every call, which the
// batch pays once: bench/bulk_bench.mjs measures that path).
import net from 'node:net';

const socket = net.createConnection(process.env.P2PCP_AGENT_SOCK);
await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
let buffer = Buffer.alloc(0);
const pending = new Map();
let nextId = 1;
socket.on('data', (data) => {
  buffer = Buffer.concat([buffer, data]);
  while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
    const length = buffer.readUInt32BE(0);
    const reply = JSON.parse(buffer.subarray(4, 4 + length).toString());
    buffer = buffer.subarray(4 + length);
    pending.get(reply.id)(reply);
    pending.delete(reply.id);
  }
});
function call(method, params) {
  const id = nextId++;
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  socket.write(Buffer.concat([header, body]));
  return new Promise((resolve) => pending.set(id, resolve)).then((reply) => {
    if (!reply.result) throw new Error(`${method}: ${JSON.stringify(reply.error)}`);
    return reply.result;
  });
}
async function time(label, items, work) {
  const start = process.hrtime.bigint();
  await work();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(`${label}: ${ms.toFixed(1)} ms (${((ms * 1000) / items).toFixed(1)} us/item)`);
  return ms;
}

const key = (await call('listKeys', {})).find((k) => k.label === (process.env.KEY_LABEL ?? 'fixture-p256')).uri;
const uris = Array.from({ length: 2048 }, (_, i) => `/files/${i}/notes-${i}.txt`);
await call('deriveStorageKey', { key, kind: 'private', uri: '/warm-up' });  // login and root cached
const single = await time('2048 deriveStorageKey calls, one after another', 2048, async () => {
  for (const uri of uris) await call('deriveStorageKey', { key, kind: 'private', uri });
});
const batch = await time('1 deriveStorageKeys call of 2048', 2048, () => call('deriveStorageKeys', { key, kind: 'private', uris }));
const blocks = uris.slice(0, 256).map((uri, seq) => ({ uri, kind: 'private', seq, payloadSha256: 'ab'.repeat(32) }));
const singleSign = await time('256 private signBlock calls', 256, async () => {
  for (const block of blocks) await call('signBlock', { key, ...block });
});
const batchSign = await time('1 signBlocks call of 256 private blocks', 256, () => call('signBlocks', { key, blocks }));
console.log(`socket speed-up: derive ${(single / batch).toFixed(1)}x, sign ${(singleSign / batchSign).toFixed(1)}x`);
socket.end();
