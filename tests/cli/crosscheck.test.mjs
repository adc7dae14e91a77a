// SPDX-License-Identifier: Apache-2.0
// Checks every p2pcp operation of the CLI + agent + SoftHSM2 stack against the
// independent Node implementation of the scheme (tests/independent), using the
// fixed test keys whose private halves the test can read from tests/fixtures.
// Run through with-token-agent.sh, which provides the token and the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import crypto from 'node:crypto';
import * as scheme from '../independent/p2pcp-scheme.mjs';

const cli = process.env.P2PCP_CLI;
const fixtures = process.env.P2PCP_FIXTURES;
const KEYS = [
  { file: 'rsa2048', type: 'rsa' },
  { file: 'p256', type: 'ec-p256' },
  { file: 'p384', type: 'ec-p384' },
  { file: 'ed25519', type: 'ed25519' },
];

function p2pcp(args, input) {
  const r = spawnSync(cli, args, { input: Buffer.from(input ?? '') });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}
function ok(args, input) {
  const r = p2pcp(args, input);
  assert.equal(r.status, 0, `p2pcp ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
const json = (args, input) => JSON.parse(ok(args, input).toString());
const text = (args, input) => ok(args, input).toString().trim();

const listed = json(['keys', '--json']);

test('keys --json lists every fixture key with uri, label, type and spki', () => {
  assert.ok(Array.isArray(listed));
  for (const { file, type } of KEYS) {
    const key = listed.find((k) => k.label === `fixture-${file}`);
    assert.ok(key, `fixture-${file} listed`);
    assert.equal(key.type, type);
    assert.match(key.uri, /^pkcs11:.*type=private/);
    const expected = crypto
      .createPublicKey(readFileSync(`${fixtures}/${file}.pem`))
      .export({ type: 'spki', format: 'der' });
    assert.equal(key.spki, expected.toString('base64'), 'SPKI equals the fixture public key');
  }
});

for (const { file, type } of KEYS) {
  const pem = readFileSync(`${fixtures}/${file}.pem`);
  const privateKey = crypto.createPrivateKey(pem);
  const publicKey = crypto.createPublicKey(pem);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyUri = () => listed.find((k) => k.label === `fixture-${file}`).uri;
  const root = scheme.rootSecret(privateKey);
  // The scheme's hash for each key type: none for Ed25519, SHA-384 for P-384, else SHA-256;
  // ECDSA signatures in the scheme's P1363 form (r || s), or DER when the CLI was given --der.
  const hash = type === 'ed25519' ? null : type === 'ec-p384' ? 'sha384' : 'sha256';
  const verifyWith = (key, message, signature) =>
    crypto.verify(hash, message, { key, dsaEncoding: 'ieee-p1363' }, signature) &&
    scheme.verifyTokenSignature(key, message, signature);
  const verifyDer = (key, message, signature) => crypto.verify(hash, message, key, signature);

  test(`${type}: public storage key of /profile`, () => {
    const got = text(['derive', 'public', '/profile', '--key', keyUri()]);
    assert.equal(got, scheme.publicStorageKey(spki, '/profile').toString('hex'));
  });

  test(`${type}: private storage key of /notes (root from the token)`, () => {
    const got = text(['derive', 'private', '/notes', '--key', keyUri()]);
    assert.equal(got, scheme.privateStorageKey(root, '/notes').toString('hex'));
  });

  test(`${type}: public block signature verifies with the fixture public key`, () => {
    const storageKey = scheme.publicStorageKey(spki, '/profile');
    const payload = Buffer.from('hello p2pcp, a public profile block');
    const r = json(['sign-block', '--key', keyUri(), '--storage-key', storageKey.toString('hex'), '--seq', '18446744073709551615'], payload);
    assert.equal(r.publicKey, spki.toString('base64'));
    const message = scheme.blockMessage(storageKey, 18446744073709551615n, crypto.createHash('sha256').update(payload).digest());
    assert.ok(verifyWith(publicKey, message, Buffer.from(r.signature, 'base64')), 'signature verifies');
    assert.ok(!verifyWith(publicKey, Buffer.concat([message, Buffer.from([0])]), Buffer.from(r.signature, 'base64')));
  });

  test(`${type}: --der gives OpenSSL's form, the default WebCrypto's`, () => {
    const storageKey = scheme.publicStorageKey(spki, '/profile');
    const payload = Buffer.from('a block for both forms');
    const message = scheme.blockMessage(storageKey, 2n, crypto.createHash('sha256').update(payload).digest());
    const args = ['sign-block', '--key', keyUri(), '--storage-key', storageKey.toString('hex'), '--seq', '2'];
    const plain = Buffer.from(json(args, payload).signature, 'base64');
    const der = Buffer.from(json([...args, '--der'], payload).signature, 'base64');
    assert.ok(verifyWith(publicKey, message, plain));
    assert.ok(verifyDer(publicKey, message, der));
    if (type.startsWith('ec-')) {
      assert.equal(plain.length, type === 'ec-p256' ? 64 : 96, 'P1363 is r || s');
      assert.equal(der[0], 0x30, 'DER is a SEQUENCE');
      const login = json(['sign-login', '--key', keyUri(), '--origin', 'https://app.example', '--index-server',
        'wss://index.example/', '--nonce', crypto.randomBytes(16).toString('base64'), '--timestamp', '1', '--der']);
      assert.ok(verifyDer(publicKey, Buffer.from(login.message, 'base64'), Buffer.from(login.signature, 'base64')));
    } else {
      assert.ok(verifyWith(publicKey, message, der), 'RSA and Ed25519 have one form');
    }
  });

  test(`${type}: derive --stdin prints what one derive per uri prints`, () => {
    const uris = ['/notes', '/profile', '/a b/\u00e9', `${'/x'.repeat(100)}`];
    for (const kind of ['public', 'private']) {
      const batch = ok(['derive', kind, '--stdin', '--key', keyUri()], uris.join('\n') + '\n').toString();
      const single = uris.map((uri) => ok(['derive', kind, uri, '--key', keyUri()]).toString()).join('');
      assert.equal(batch, single, kind);
    }
    const expected = uris.map((uri) => scheme.privateStorageKey(root, uri).toString('hex'));
    assert.deepEqual(ok(['derive', 'private', '--stdin', '--key', keyUri()], uris.join('\n')).toString().trim().split('\n'), expected);
  });

  test(`${type}: private block signature by the write key derived for /notes`, () => {
    const storageKey = scheme.privateStorageKey(root, '/notes');
    const payload = Buffer.from('a private notes block');
    const r = json(['sign-block', '--key', keyUri(), '--storage-key', storageKey.toString('hex'), '--seq', '5', '--private', '/notes'], payload);
    const writeSpki = scheme.writeKeyPublicSpki(root, '/notes');
    assert.equal(r.publicKey, writeSpki.toString('base64'), 'write key equals the independent derivation');
    assert.notEqual(r.publicKey, spki.toString('base64'), 'private blocks do not link to the identity');
    const message = scheme.blockMessage(storageKey, 5n, crypto.createHash('sha256').update(payload).digest());
    const writeKey = crypto.createPublicKey({ key: writeSpki, format: 'der', type: 'spki' });
    assert.ok(crypto.verify(null, message, writeKey, Buffer.from(r.signature, 'base64')));
  });

  test(`${type}: login signature binds origin, index server, nonce and time`, () => {
    const nonce = crypto.randomBytes(32);
    const r = json(['sign-login', '--key', keyUri(), '--origin', 'https://app.example', '--index-server', 'wss://index.example/',
      '--nonce', nonce.toString('base64'), '--timestamp', '1767225600']);
    const message = scheme.loginMessage('https://app.example', 'wss://index.example/', nonce, 1767225600n);
    assert.equal(r.message, message.toString('base64'));
    assert.ok(verifyWith(publicKey, message, Buffer.from(r.signature, 'base64')));
  });

  test(`${type}: sealed /notes opens with the independent implementation, and back`, () => {
    const plaintext = Buffer.from('my private notes \u00e9\u4e2d');
    const sealed = text(['seal', '--key', keyUri(), '--uri', '/notes'], plaintext);
    const opened = scheme.openSealed(root, '/notes', Buffer.from(sealed, 'base64'));
    assert.deepEqual(opened, plaintext);
    const back = ok(['open', '--key', keyUri(), '--uri', '/notes'], sealed);
    assert.deepEqual(back, plaintext);
    const wrong = p2pcp(['open', '--key', keyUri(), '--uri', '/other'], sealed);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /OPEN_FAILED/);
  });

  // The site space of an origin, addressed with --origin (docs/scheme.md, "Spaces").
  const SITE = 'https://app.example';
  const siteRoot = scheme.originRoot(root, SITE);

  test(`${type}: --origin works in the site space, as the independent implementation derives it`, () => {
    const got = text(['derive', 'private', '/notes', '--key', keyUri(), '--origin', SITE]);
    assert.equal(got, scheme.privateStorageKey(siteRoot, '/notes').toString('hex'));
    assert.notEqual(got, scheme.privateStorageKey(root, '/notes').toString('hex'));
    const plaintext = Buffer.from('a site\'s own notes');
    const sealed = text(['seal', '--key', keyUri(), '--uri', '/notes', '--origin', SITE], plaintext);
    assert.deepEqual(scheme.openSealed(siteRoot, '/notes', Buffer.from(sealed, 'base64')), plaintext);
    assert.throws(() => scheme.openSealed(root, '/notes', Buffer.from(sealed, 'base64')));
    assert.match(p2pcp(['open', '--key', keyUri(), '--uri', '/notes'], sealed).stderr, /OPEN_FAILED/);
  });

  test(`${type}: blocks signed by uri in a site space`, () => {
    const payload = Buffer.from('a score block');
    const hash = crypto.createHash('sha256').update(payload).digest();
    const publicUri = `${SITE}/scores`;
    const pub = json(['sign-block', '--key', keyUri(), '--origin', SITE, '--uri', publicUri, '--seq', '3'], payload);
    assert.equal(pub.storageKey, scheme.publicStorageKey(spki, publicUri).toString('hex'));
    assert.equal(pub.space, SITE);
    assert.ok(verifyWith(publicKey, scheme.blockMessage(Buffer.from(pub.storageKey, 'hex'), 3n, hash),
      Buffer.from(pub.signature, 'base64')));
    const outside = p2pcp(['sign-block', '--key', keyUri(), '--origin', SITE, '--uri', '/profile', '--seq', '3'], payload);
    assert.equal(outside.status, 1);
    assert.match(outside.stderr, /NOT_ALLOWED_BY_POLICY/);
    const priv = json(['sign-block', '--key', keyUri(), '--origin', SITE, '--uri', '/notes', '--kind', 'private', '--seq', '4'], payload);
    assert.equal(priv.storageKey, scheme.privateStorageKey(siteRoot, '/notes').toString('hex'));
    const writeSpki = scheme.writeKeyPublicSpki(siteRoot, '/notes');
    assert.equal(priv.publicKey, writeSpki.toString('base64'));
    assert.ok(crypto.verify(null, scheme.blockMessage(Buffer.from(priv.storageKey, 'hex'), 4n, hash),
      crypto.createPublicKey({ key: writeSpki, format: 'der', type: 'spki' }), Buffer.from(priv.signature, 'base64')));
  });
}

test('an unknown key is KEY_NOT_FOUND with exit code 1', () => {
  const r = p2pcp(['derive', 'public', '/profile', '--key', 'pkcs11:object=no-such-key']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /KEY_NOT_FOUND/);
});

test('raw signing is refused by the default policy', () => {
  const r = p2pcp(['sign', '--key', listed[0].uri], 'bytes a page chose');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /NOT_ALLOWED_BY_POLICY/);
});

test('bad command lines exit with 2', () => {
  assert.equal(p2pcp(['derive', 'sideways', '/x']).status, 2);
  assert.equal(p2pcp(['sign-block', '--seq', '1']).status, 2);
});
