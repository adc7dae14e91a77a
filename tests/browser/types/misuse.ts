// SPDX-License-Identifier: Apache-2.0
// What p2pcp.d.ts must refuse: tsc fails if a line marked @ts-expect-error
// type-checks (the bad inputs, as an app would write them).
export async function misuse(p2pcp: P2pcp.Api): Promise<void> {
  const bytes = new Uint8Array(4);
  // @ts-expect-error a payload is bytes, not a number
  await p2pcp.signBlock({ uri: '/a', kind: 'public', seq: 1, payload: 42 });
  // @ts-expect-error nor a base64 string
  await p2pcp.signBlock({ uri: '/a', kind: 'public', seq: 1, payload: 'AAAA' });
  // @ts-expect-error nor a Blob
  await p2pcp.signBlock({ uri: '/a', kind: 'public', seq: 1, payload: new Blob([]) });
  // @ts-expect-error a block is required
  await p2pcp.signBlock();
  // @ts-expect-error kind is "public" or "private"
  await p2pcp.signBlock({ uri: '/a', kind: 'secret', seq: 1, payload: bytes });
  // @ts-expect-error seq is a number or a bigint
  await p2pcp.signBlock({ uri: '/a', kind: 'public', seq: '1', payload: bytes });
  // @ts-expect-error an unknown option name
  await p2pcp.identity({ kye: 'pkcs11:object=x' });
  // @ts-expect-error signLogin needs its fields
  await p2pcp.signLogin();
  // @ts-expect-error seal needs the plaintext
  await p2pcp.seal('/a');
  // @ts-expect-error deriveStorageKeys needs its kind
  await p2pcp.deriveStorageKeys(['/a']);
  // @ts-expect-error storage keys are bytes, not hex strings
  const hex: string = await p2pcp.publicStorageKey('/a');
  try {
    await p2pcp.hello();
  } catch (e) {
    if (e instanceof p2pcp.P2pcpError) {
      // @ts-expect-error not one of the codes
      if (e.code === 'NO_SUCH_CODE') return;
    }
  }
  // Right uses type-check.
  const key: Uint8Array = await p2pcp.publicStorageKey('/a');
  const results = await p2pcp.deriveStorageKeys(['/a'], { kind: 'private', key: 'f'.repeat(64) });
  for (const r of results) {
    if ('error' in r) console.log(r.error.code, r.error.data.field);
    else console.log(r.storageKey.length);
  }
  console.log(hex, key);
}
