// SPDX-License-Identifier: Apache-2.0
// Sequential round trips over a Unix socket with the agent's framing (4-byte
// big-endian length + JSON), the same client code for every server measured:
// the agent (bench/hello_bench.mjs, bench/bulk_bench.mjs) and the trivial
// echo server (bench/echo_socket_server.cpp), so their ratio is the agent's own cost.
import net from 'node:net';

function frame(message) {
  const body = Buffer.from(typeof message === 'string' ? message : JSON.stringify(message), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

// One connection; each frame is sent when the previous answer is complete.
// `message`: a JSON value (or its text), sent as is every time. The first
// `warmUp` round trips (default: a tenth, at most 200) are not counted.
export async function measureRoundTrips(socketPath, { count = 2000, message = { jsonrpc: '2.0', id: 1, method: 'hello' }, warmUp } = {}) {
  const request = frame(message);
  const skip = warmUp ?? Math.min(200, Math.floor(count / 10));
  const socket = net.createConnection(socketPath);
  socket.setNoDelay?.(true);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let pending = [];
  let pendingBytes = 0;
  let waiting = null;
  socket.on('data', (chunk) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (!waiting || pendingBytes < 4) return;
    const head = pending.length === 1 ? pending[0] : Buffer.concat(pending);
    const length = head.readUInt32BE(0);
    if (pendingBytes < 4 + length) {
      pending = [head];
      return;
    }
    if (pendingBytes > 4 + length) {
      waiting.reject(new Error('more bytes than one answer: the server answered twice'));
      return;
    }
    pending = [];
    pendingBytes = 0;
    const done = waiting;
    waiting = null;
    done.resolve(head);
  });
  const failed = new Promise((_, reject) => {
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`${socketPath} closed the connection`)));
  });
  failed.catch(() => {});
  const roundTrip = () => Promise.race([failed, new Promise((resolve, reject) => {
    waiting = { resolve, reject };
    socket.write(request);
  })]);
  const times = [];
  try {
    for (let i = 0; i < skip + count; i++) {
      const start = process.hrtime.bigint();
      await roundTrip();
      const us = Number(process.hrtime.bigint() - start) / 1000;
      if (i >= skip) times.push(us);
    }
  } finally {
    socket.removeAllListeners('close');
    socket.destroy();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    count,
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    meanUs: times.reduce((a, b) => a + b, 0) / times.length,
    minUs: sorted[0],
  };
}
