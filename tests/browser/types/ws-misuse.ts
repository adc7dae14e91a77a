// SPDX-License-Identifier: Apache-2.0
// What p2pcp-ws.d.ts must refuse (tsc fails if a line marked as an expected
// error type-checks), and that a P2pcpWs.Api is a P2pcp.Api.
export async function wsMisuse(ws: P2pcpWs.Static): Promise<void> {
  // Without a port: the default, 24872.
  await ws.connect();
  await ws.connect({ onPairingCode: (code) => console.log(code) });
  const port: 24872 = ws.defaultPort;
  // @ts-expect-error a port is a number
  await ws.connect({ port: null });
  // @ts-expect-error defaultPort is read-only
  ws.defaultPort = port;
  // @ts-expect-error a port is a number
  await ws.connect({ port: '41339' });
  // @ts-expect-error only the loopback names
  await ws.connect({ port: 41339, host: 'evil.example' });
  // @ts-expect-error the page cannot name its origin
  await ws.connect({ port: 41339, origin: 'https://bank.example' });
  const p2pcp = await ws.connect({ port: 41339, host: '[::1]', onPairingCode: (code) => console.log(code) });
  // @ts-expect-error the code is shown, not returned
  await p2pcp.pair({ onPairingCode: 42 });
  const paired: true = (await p2pcp.pair()).paired;
  // The same app code takes either transport.
  const either: P2pcp.Api = p2pcp;
  const hello = await either.hello();
  const unpaired: boolean | undefined = hello.paired;
  p2pcp.addEventListener('close', (event) => console.log(event.detail.code, event.detail.reason));
  p2pcp.close();
  console.log(paired, unpaired, p2pcp.closed, p2pcp.url);
}
