// SPDX-License-Identifier: Apache-2.0
// docs/scheme.md must carry the test vectors the independent implementation
// computes from tests/fixtures today: a changed scheme or fixture fails here
// until the documentation is regenerated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPublicKey, verify, webcrypto } from 'node:crypto';
import { derToP1363, p1363ToDer, vectors, verifyTokenSignature } from '../independent/p2pcp-scheme.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(`${root}/docs/scheme.md`, 'utf8');
const computed = vectors(`${root}/tests/fixtures`);

test('every fixed point is in docs/scheme.md', () => {
  for (const [curve, { point }] of Object.entries(computed.fixedPoints)) {
    assert.ok(doc.includes(point), `${curve} point`);
  }
});

for (const key of computed.keys) {
  test(`every vector of ${key.fixture} is in docs/scheme.md`, () => {
    for (const [name, value] of Object.entries(key)) {
      if (['fixture', 'type', 'spki'].includes(name)) continue;
      assert.ok(doc.includes(value), `${key.fixture} ${name}`);
    }
  });
}

// ECDSA: the recorded public block signature in docs/scheme.md, in both forms,
// verifies with the fixture's public key (P1363 as WebCrypto takes it, DER as
// OpenSSL-style tools do), and each form converts into the other.
for (const [fixture, fieldBytes, hash] of [['p256.pem', 32, 'sha256'], ['p384.pem', 48, 'sha384']]) {
  test(`the recorded ECDSA block signature of ${fixture} verifies as P1363 and as DER`, async () => {
    const key = computed.keys.find((k) => k.fixture === fixture);
    const p1363 = Buffer.from(key.publicBlockSignatureP1363, 'base64');
    const der = Buffer.from(key.publicBlockSignatureDer, 'base64');
    assert.equal(p1363.length, 2 * fieldBytes);
    const publicKey = createPublicKey({ key: Buffer.from(key.spki, 'base64'), format: 'der', type: 'spki' });
    const message = Buffer.from(key.publicBlockMessage, 'hex');
    assert.ok(verifyTokenSignature(publicKey, message, p1363), 'P1363 verifies (independent implementation)');
    assert.ok(verify(hash, message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363));
    assert.ok(verify(hash, message, publicKey, der), 'DER verifies');
    assert.ok(!verify(hash, Buffer.concat([message, Buffer.from([0])]), { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363));
    assert.deepEqual(p1363ToDer(p1363), der);
    assert.deepEqual(derToP1363(der, fieldBytes), p1363);
    // WebCrypto, as a browser verifies it.
    const webKey = await webcrypto.subtle.importKey('spki', Buffer.from(key.spki, 'base64'),
      { name: 'ECDSA', namedCurve: fieldBytes === 32 ? 'P-256' : 'P-384' }, false, ['verify']);
    assert.ok(await webcrypto.subtle.verify({ name: 'ECDSA', hash: hash === 'sha256' ? 'SHA-256' : 'SHA-384' },
      webKey, p1363, message));
  });
}
