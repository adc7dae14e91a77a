// SPDX-License-Identifier: Apache-2.0
// TypeScript declarations of P2pcpWs (clients/p2pcp-ws.js): the page API of
// browser-extension/p2pcp.d.ts over the agent's loopback WebSocket front door
// (docs/front-door.md). Reference both files:
//   /// <reference path="p2pcp.d.ts" />
//   /// <reference path="p2pcp-ws.d.ts" />
// A P2pcpWs.Api is a P2pcp.Api (the same methods, options, outputs and error
// codes), so app code written against P2pcp.Api runs with either transport.

declare namespace P2pcpWs {
  /** The names the front door answers on. */
  type Host = '127.0.0.1' | '[::1]' | 'localhost';

  /** Shows the person the pairing code ("123-456"); the agent's dialog shows the same code. */
  type PairingCodeHandler = (code: string, info: { expiresIn: number }) => void;

  interface ConnectOptions extends P2pcp.CallOptions {
    /**
     * The port of `"webSocket"` in the person's agent.json (or the policy).
     * Default P2pcpWs.defaultPort (24872), the port of `"webSocket": {}`.
     */
    port?: number;
    /** Default "127.0.0.1". */
    host?: Host;
    /** The default handler of pair(). */
    onPairingCode?: PairingCodeHandler;
    /** Milliseconds to open the connection (default 120000: room for the browser's Local Network Access prompt). */
    timeout?: number;
  }

  interface PairOptions extends P2pcp.CallOptions {
    /** Required here or in connect(): the page must show the code. */
    onPairingCode?: PairingCodeHandler;
  }

  interface Paired {
    paired: true;
    /** The paired origin (absent when the origin was paired already). */
    origin?: string;
  }

  /** The 'close' event's detail: the WebSocket close code and reason ("pairing revoked"). */
  interface CloseDetail {
    code: number;
    reason: string;
  }

  interface Api extends P2pcp.Api {
    /**
     * Pairs this page's origin with the agent (once per origin): onPairingCode
     * gets the code, the person compares it with the agent's dialog and
     * confirms. Refused: CONSENT_DENIED. Already paired: resolves at once.
     */
    pair(options?: PairOptions): Promise<Paired>;
    /** Closes the connection; calls in flight and later calls reject with AGENT_UNAVAILABLE. */
    close(): void;
    /** ws://HOST:PORT/ */
    readonly url: string;
    /** The connection is gone (closed by the page, the agent, or a revoked pairing): connect again. */
    readonly closed: boolean;

    addEventListener(type: 'close', listener: (event: CustomEvent<CloseDetail>) => void,
      options?: boolean | AddEventListenerOptions): void;
    addEventListener(type: P2pcp.TokenEventType, listener: (event: CustomEvent<Record<string, never>>) => void,
      options?: boolean | AddEventListenerOptions): void;
    addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
      options?: boolean | AddEventListenerOptions): void;
  }

  interface Static {
    /**
     * Opens ws://HOST:PORT/ (without options: ws://127.0.0.1:24872/). Cannot
     * reach the agent (not running, front door off, wrong port, blocked by the
     * browser): AGENT_UNAVAILABLE.
     */
    connect(options?: ConnectOptions): Promise<Api>;
    /** 24872: the port connect() uses without options.port, and the agent's without "port". */
    readonly defaultPort: 24872;
    readonly P2pcpError: P2pcp.P2pcpErrorConstructor;
  }
}

interface Window {
  /** Present when the page included p2pcp-core.js and p2pcp-ws.js. */
  readonly P2pcpWs?: P2pcpWs.Static;
}
