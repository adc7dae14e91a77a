// SPDX-License-Identifier: Apache-2.0
// An independent implementation of the p2pcp v1 key scheme (docs/scheme.md),
// written from the specification with nothing but node:crypto, to check what
// the agent and the token compute. It reads the private key from a file, which
// only test fixtures allow.
//
//   node p2pcp-scheme.mjs vectors tests/fixtures   prints the test vectors as JSON
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const sha256 = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts.map(Buffer.from))).digest();
const label = (text) => Buffer.from(`${text}\0`, 'utf8');
const utf8 = (text) => Buffer.from(text, 'utf8');
const u64 = (value) => {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
};

export const ROOT_MESSAGE = label('p2pcp/v1/root');

export function fingerprint(spki) {
  return sha256(spki);
}

export function publicStorageKey(spki, uri) {
  return sha256(label('p2pcp/v1/public'), spki, utf8(uri));
}

// The curves' parameters, from SEC 2 / FIPS 186-4 (y^2 = x^3 - 3x + b mod p).
const CURVES = {
  'P-256': {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    bytes: 32,
  },
  'P-384': {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    bytes: 48,
  },
};

function modPow(base, exponent, modulus) {
  let result = 1n;
  base %= modulus;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
    exponent >>= 1n;
  }
  return result;
}

const toBigInt = (buffer) => BigInt(`0x${buffer.toString('hex')}`);
const toBuffer = (value, bytes) => Buffer.from(value.toString(16).padStart(bytes * 2, '0'), 'hex');

// Q: x = H("p2pcp/v1/ecdh-point\0" || curve name || counter), the first counter whose
// x is on the curve, with the even y. Both curves have p = 3 mod 4, so sqrt = a^((p+1)/4).
export function fixedPoint(curve) {
  const { p, b, bytes } = CURVES[curve];
  for (let counter = 0; counter < 256; counter++) {
    const x = toBigInt(sha256(label('p2pcp/v1/ecdh-point'), utf8(curve), Buffer.from([counter])));
    if (x >= p) continue;
    const rhs = (((x * x * x - 3n * x + b) % p) + p) % p;
    let y = modPow(rhs, (p + 1n) / 4n, p);
    if ((y * y) % p !== rhs) continue;
    if (y & 1n) y = p - y;
    return { counter, point: Buffer.concat([Buffer.from([4]), toBuffer(x, bytes), toBuffer(y, bytes)]) };
  }
  throw new Error('no point');
}

function curveOf(keyObject) {
  const name = keyObject.asymmetricKeyDetails?.namedCurve;
  if (name === 'prime256v1') return 'P-256';
  if (name === 'secp384r1') return 'P-384';
  throw new Error(`unsupported curve ${name}`);
}

// The one operation the token does, here in software from the private key.
export function tokenResult(privateKey) {
  switch (privateKey.asymmetricKeyType) {
    case 'rsa':
      return crypto.sign('sha256', ROOT_MESSAGE, { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING });
    case 'ed25519':
      return crypto.sign(null, ROOT_MESSAGE, privateKey);
    case 'ec': {
      const curve = curveOf(privateKey);
      const peer = crypto.createPublicKey({
        key: {
          kty: 'EC',
          crv: curve,
          x: fixedPoint(curve).point.subarray(1, 1 + CURVES[curve].bytes).toString('base64url'),
          y: fixedPoint(curve).point.subarray(1 + CURVES[curve].bytes).toString('base64url'),
        },
        format: 'jwk',
      });
      return crypto.diffieHellman({ privateKey, publicKey: peer });
    }
    default:
      throw new Error(`unsupported key type ${privateKey.asymmetricKeyType}`);
  }
}

export function rootSecret(privateKey) {
  return sha256(label('p2pcp/v1/root'), tokenResult(privateKey));
}

// The root of a site space: originRoot(space) = HMAC-SHA256(root, "p2pcp/v1/origin\0" || space),
// space = a canonical web origin such as "https://app.example". Every private derivation
// below takes it where the whole space takes the root.
export function originRoot(root, space) {
  if (typeof space !== 'string' || space.length === 0 || space.includes('\0')) {
    throw new Error('a space is a non-empty origin without 0 bytes');
  }
  return crypto.createHmac('sha256', root).update(Buffer.concat([label('p2pcp/v1/origin'), utf8(space)])).digest();
}

// A page with site access signs public blocks only for uris of the form space + "/" + ...
export const isUriInSpace = (space, uri) => space.length > 0 && uri.startsWith(`${space}/`);

export function privateStorageKey(root, uri) {
  return crypto.createHmac('sha256', root).update(Buffer.concat([label('storage'), utf8(uri)])).digest();
}

const hkdf = (root, info, uri) =>
  Buffer.from(crypto.hkdfSync('sha256', root, Buffer.alloc(0), Buffer.concat([label(info), utf8(uri)]), 32));

export const sealKey = (root, uri) => hkdf(root, 'seal', uri);
export const writeKeySeed = (root, uri) => hkdf(root, 'write', uri);

// An Ed25519 private key from its 32-byte seed (PKCS#8 wrapper of RFC 8410).
function ed25519FromSeed(seed) {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return crypto.createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
}

export function writeKeyPublicSpki(root, uri) {
  return crypto.createPublicKey(ed25519FromSeed(writeKeySeed(root, uri))).export({ type: 'spki', format: 'der' });
}

export function signWithWriteKey(root, uri, message) {
  return crypto.sign(null, message, ed25519FromSeed(writeKeySeed(root, uri)));
}

export function blockMessage(storageKey, seq, payloadHash) {
  return Buffer.concat([label('p2pcp/v1/block'), storageKey, u64(seq), payloadHash]);
}

export function loginMessage(origin, indexServer, nonce, timestamp) {
  return Buffer.concat([label('p2pcp/v1/login'), utf8(origin), Buffer.from([0]), utf8(indexServer), Buffer.from([0]), nonce, u64(timestamp)]);
}

// version 0x01 || nonce(12) || AES-256-GCM ciphertext || tag(16), AAD "p2pcp/v1/seal\0" || uri
export function openSealed(root, uri, box) {
  if (box.length < 29 || box[0] !== 1) throw new Error('not a p2pcp v1 box');
  const decipher = crypto.createDecipheriv('aes-256-gcm', sealKey(root, uri), box.subarray(1, 13));
  decipher.setAAD(Buffer.concat([label('p2pcp/v1/seal'), utf8(uri)]));
  decipher.setAuthTag(box.subarray(box.length - 16));
  return Buffer.concat([decipher.update(box.subarray(13, box.length - 16)), decipher.final()]);
}

export function seal(root, uri, plaintext, nonce = crypto.randomBytes(12)) {
  const cipher = crypto.createCipheriv('aes-256-gcm', sealKey(root, uri), nonce);
  cipher.setAAD(Buffer.concat([label('p2pcp/v1/seal'), utf8(uri)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), nonce, body, cipher.getAuthTag()]);
}

// The scheme's hash for a token key: none for Ed25519, SHA-384 for P-384, else SHA-256.
function schemeHash(key) {
  if (key.asymmetricKeyType === 'ed25519') return null;
  return key.asymmetricKeyType === 'ec' && curveOf(key) === 'P-384' ? 'sha384' : 'sha256';
}

// The signature the token key makes over a scheme message (deterministic for RSA and
// Ed25519). ECDSA signatures are IEEE P1363 (r || s), the form WebCrypto verifies.
export function signWithTokenKey(privateKey, message) {
  return crypto.sign(schemeHash(privateKey), message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
}

// Whether a scheme signature (ECDSA in P1363 form) by the token key verifies.
export function verifyTokenSignature(publicKey, message, signature) {
  return crypto.verify(schemeHash(publicKey), message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
}

// ECDSA P1363 (r || s) <-> DER ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }),
// written out here so that the agent's conversion is checked against another one.
const derLength = (n) => (n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]));
function derInteger(unsigned) {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  let value = unsigned.subarray(i);
  if (value[0] & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
  return Buffer.concat([Buffer.from([0x02]), derLength(value.length), value]);
}
export function p1363ToDer(signature) {
  const half = signature.length / 2;
  const body = Buffer.concat([derInteger(signature.subarray(0, half)), derInteger(signature.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}
export function derToP1363(der, fieldBytes) {
  let at = 0;
  const read = (tag) => {
    if (der[at++] !== tag) throw new Error('not a DER ECDSA-Sig-Value');
    let length = der[at++];
    if (length === 0x81) length = der[at++];
    const value = der.subarray(at, at + length);
    at += length;
    return value;
  };
  const sequence = read(0x30);
  if (at !== der.length) throw new Error('trailing bytes after the DER signature');
  at = 0;
  der = sequence;
  const pad = (value) => {
    const unsigned = value[0] === 0 ? value.subarray(1) : value;
    if (unsigned.length > fieldBytes) throw new Error('a DER integer longer than the field');
    return Buffer.concat([Buffer.alloc(fieldBytes - unsigned.length), unsigned]);
  };
  const r = pad(read(0x02));
  const s = pad(read(0x02));
  return Buffer.concat([r, s]);
}

// ECDSA is randomised: one public block signature of each EC fixture, made once
// (P1363, base64) over its public block message, so that readers can check their
// verifier and their DER conversion against the documentation.
export const RECORDED_ECDSA_BLOCK_SIGNATURES = {
  'p256.pem': 'WySCV4+kyYBOA6q/0K7/W9xYcE2qsMC1LtSpZt+W1asOER5uhPcg9gjlSyRSTJj+7zzJwbK80GwAeug0a2uvrA==',
  'p384.pem': 'e09QFoWz5dIli0tCOFJt+EyTnOBuKNhLs4IrjXReQn6vxqvDGaDqWzc/w6ESVRpLs+0FgdnWQiNrT7DBXKU/hmEDHvfiA6J3WDh5JAkxeQrVdSEYHjFTBQWAmPEbu0ZW',
};

export function vectors(fixturesDir) {
  const out = { command: 'node tests/independent/p2pcp-scheme.mjs vectors tests/fixtures', keys: [] };
  out.fixedPoints = Object.fromEntries(['P-256', 'P-384'].map((curve) => {
    const q = fixedPoint(curve);
    return [curve, { counter: q.counter, point: q.point.toString('hex') }];
  }));
  for (const name of ['rsa2048', 'p256', 'p384', 'ed25519']) {
    const privateKey = crypto.createPrivateKey(readFileSync(`${fixturesDir}/${name}.pem`));
    const spki = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    const root = rootSecret(privateKey);
    const profile = publicStorageKey(spki, '/profile');
    const payload = utf8('hello p2pcp');
    const block = blockMessage(profile, 1n, sha256(payload));
    const notes = privateStorageKey(root, '/notes');
    const privateBlock = blockMessage(notes, 1n, sha256(payload));
    const nonce = Buffer.from([...Array(32).keys()]);
    const login = loginMessage('https://app.example', 'wss://index.example/', nonce, 1767225600n);
    const entry = {
      fixture: `${name}.pem`,
      type: privateKey.asymmetricKeyType,
      spki: spki.toString('base64'),
      fingerprint: fingerprint(spki).toString('hex'),
      publicStorageKey_profile: profile.toString('hex'),
      root: root.toString('hex'),
      privateStorageKey_notes: notes.toString('hex'),
      sealKey_notes: sealKey(root, '/notes').toString('hex'),
      writeKeySpki_notes: writeKeyPublicSpki(root, '/notes').toString('base64'),
      publicBlockMessage: block.toString('hex'),
      privateBlockSignature: signWithWriteKey(root, '/notes', privateBlock).toString('base64'),
      loginMessage: login.toString('hex'),
    };
    // The site space of https://app.example: its private keys come from originRoot, its
    // public uris are absolute URLs under the origin.
    const app = originRoot(root, 'https://app.example');
    const appNotes = privateStorageKey(app, '/notes');
    Object.assign(entry, {
      originRoot_app: app.toString('hex'),
      privateStorageKey_app_notes: appNotes.toString('hex'),
      sealKey_app_notes: sealKey(app, '/notes').toString('hex'),
      writeKeySpki_app_notes: writeKeyPublicSpki(app, '/notes').toString('base64'),
      publicStorageKey_app_scores: publicStorageKey(spki, 'https://app.example/scores').toString('hex'),
      privateBlockSignature_app_notes: signWithWriteKey(app, '/notes', blockMessage(appNotes, 1n, sha256(payload))).toString('base64'),
    });
    if (privateKey.asymmetricKeyType !== 'ec') {
      entry.publicBlockSignature = signWithTokenKey(privateKey, block).toString('base64');
    } else {
      const recorded = Buffer.from(RECORDED_ECDSA_BLOCK_SIGNATURES[entry.fixture], 'base64');
      entry.publicBlockSignatureP1363 = recorded.toString('base64');
      entry.publicBlockSignatureDer = p1363ToDer(recorded).toString('base64');
    }
    out.keys.push(entry);
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === 'vectors') {
  process.stdout.write(`${JSON.stringify(vectors(process.argv[3] ?? 'tests/fixtures'), null, 2)}\n`);
}
