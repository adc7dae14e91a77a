// SPDX-License-Identifier: Apache-2.0
// TypeScript declarations of window.p2pcp, the page API of the p2pcp
// extension (browser-extension/page-api.js; docs/page-api.md is written from
// this file). Copy it next to your app, or reference it:
//   /// <reference path="p2pcp.d.ts" />
//
// Conventions: every call returns a promise and settles (with its result or
// a P2pcpError); binary inputs are Uint8Array or ArrayBuffer; binary outputs
// are Uint8Array; fingerprints are hex strings; seq and timestamps are safe
// integers or bigints (u64).

declare namespace P2pcp {
  /** Every code a P2pcpError can carry. */
  type ErrorCode =
    // The agent's (docs/protocol.md, "Errors").
    | 'PARSE_ERROR'
    | 'BAD_REQUEST'
    | 'METHOD_NOT_FOUND'
    | 'MESSAGE_TOO_LARGE'
    | 'PIN_INCORRECT'
    | 'PIN_LOCKED'
    | 'PIN_CANCELLED'
    | 'TOKEN_REMOVED'
    | 'TOKEN_NOT_FOUND'
    | 'KEY_NOT_FOUND'
    | 'KEY_AMBIGUOUS'
    | 'CONSENT_DENIED'
    | 'NOT_ALLOWED_BY_POLICY'
    | 'UNSUPPORTED'
    | 'PINENTRY_FAILED'
    | 'OPEN_FAILED'
    | 'TOKEN_ERROR'
    | 'AGENT_UNAVAILABLE'
    | 'EXTENSION_NOT_ALLOWED'
    | 'RATE_LIMITED'
    | 'TOKEN_UNAVAILABLE'
    | 'NOT_PAIRED'
    | 'INTERNAL_ERROR'
    // The browser path's.
    | 'NOT_ALLOWED'
    | 'ABORTED'
    | 'TIMEOUT'
    | 'EXTENSION_UNAVAILABLE'
    | 'HOST_NOT_FOUND'
    | 'HOST_FORBIDDEN'
    | 'HOST_BLOCKED_BY_POLICY'
    | 'HOST_PROTOCOL_ERROR';

  /** What a failure carries besides its code and message. */
  interface ErrorData {
    /** The input at fault (BAD_REQUEST, MESSAGE_TOO_LARGE): `uri`, `options.kye`, `blocks[3].payload`. */
    field?: string;
    /** PIN_INCORRECT, PIN_LOCKED: what the token says is left. */
    pinState?: 'ok' | 'countLow' | 'finalTry' | 'locked' | 'notInitialized';
    /** CONSENT_DENIED: the person denied this origin earlier and the denial holds. */
    remembered?: boolean;
    /** CONSENT_DENIED, RATE_LIMITED: seconds until the page may ask again. */
    retryAfter?: number;
    /** MESSAGE_TOO_LARGE: the limit in bytes. */
    limit?: number;
    /** NOT_ALLOWED_BY_POLICY: the origin's grade. */
    access?: Access;
    /** ABORTED: the signal's reason, as a string. */
    reason?: string;
    [name: string]: unknown;
  }

  interface P2pcpErrorConstructor {
    new (code: ErrorCode, message: string, data?: ErrorData): P2pcpError;
    readonly prototype: P2pcpError;
  }

  interface P2pcpError extends Error {
    readonly name: 'P2pcpError';
    readonly code: ErrorCode;
    readonly data: ErrorData;
  }

  /** Bytes given to the API. */
  type BinaryInput = Uint8Array | ArrayBuffer;
  /**
   * Bytes the API returns: a Uint8Array over its own ArrayBuffer, which
   * crypto.subtle takes as it is (written so that it means Uint8Array<ArrayBuffer>
   * in TypeScript 5.7 and later, and Uint8Array before).
   */
  type Bytes = ReturnType<Uint8Array['slice']>;
  /** An unsigned 64-bit number: a safe integer, or a bigint up to 2^64 - 1. */
  type U64 = number | bigint;
  type Access = 'none' | 'site' | 'full';
  type KeyType = 'rsa' | 'ec-p256' | 'ec-p384' | 'ed25519';
  type Algorithm = 'rsa-pkcs1-sha256' | 'rsa-pss-sha256' | 'ecdsa-sha256' | 'ecdsa-sha384' | 'ed25519';
  /** The page API's method names, as hello().methods lists them ("pair": the WebSocket front door only, clients/p2pcp-ws.d.ts). */
  type MethodName =
    | 'hello' | 'requestAccess' | 'listKeys' | 'identity' | 'publicStorageKey' | 'privateStorageKey'
    | 'deriveStorageKeys' | 'signBlock' | 'signBlocks' | 'signLogin' | 'seal' | 'open' | 'sealMany'
    | 'openMany' | 'sign' | 'pair';

  /** Options every call takes. */
  interface CallOptions {
    /** Rejects the call with ABORTED when the signal aborts (at once if it already has). */
    signal?: AbortSignal;
    /** Milliseconds before the call rejects with TIMEOUT (default 300000: room for a consent and a PIN dialog). */
    timeout?: number;
  }
  /** Options of the calls that use a key. */
  interface KeyOptions extends CallOptions {
    /** A key fingerprint (64 lowercase hex digits, from listKeys or identity); with full access also a PKCS#11 URI (below full access a URI is BAD_REQUEST). */
    key?: string;
  }
  /** Options of the calls that return signatures. */
  interface SignatureOptions extends KeyOptions {
    /** ECDSA signature form: "p1363" (r ‖ s, what WebCrypto verifies; the default) or "der". */
    signatureFormat?: 'p1363' | 'der';
  }

  interface BatchLimits {
    deriveStorageKeys: number;
    signBlocks: number;
    sealMany: number;
    openMany: number;
    /** Decoded plaintexts (sealMany) or sealed boxes (openMany) per request, in bytes. */
    batchBytes: number;
  }

  interface Hello {
    agent: string;
    version: string;
    protocol: number;
    /** The methods this page can call now (its grade, the administrator's policy). */
    methods: MethodName[];
    access: Access;
    notifications: string[];
    keyTypes: KeyType[];
    /** The largest request the browser path takes, in bytes. */
    maxRequestBytes: number;
    /** How many items one request of a batch method holds (the page API splits bigger inputs). */
    batchLimits?: BatchLimits;
    /** Through the WebSocket front door only: whether this page's origin is paired (before it is, access is "none" and methods are hello and pair). */
    paired?: boolean;
  }

  interface AccessGrant {
    access: 'site' | 'full';
    /** "full", or the site space's origin. */
    space: string;
  }

  interface KeyInfo {
    label: string;
    type: KeyType;
    /** Hex SHA-256 of the key's SPKI: pass it as the `key` option. */
    fingerprint: string;
    /** The person's default key. */
    default: boolean;
    /** With full access only. */
    uri?: string;
    /** With full access only. */
    tokenUri?: string;
  }

  interface Identity {
    type: KeyType;
    /** DER SubjectPublicKeyInfo: crypto.subtle.importKey('spki', ...). */
    spki: Bytes;
    fingerprint: string;
  }

  interface Signature {
    signature: Bytes;
    /** The SPKI that verifies the signature. */
    publicKey: Bytes;
    algorithm: Algorithm;
  }

  /** A block named by its uri; the agent computes the storage key. */
  interface BlockByUri {
    uri: string;
    kind: 'public' | 'private';
    seq: U64;
    payload?: BinaryInput;
    /** Instead of payload: its SHA-256 (32 bytes). */
    payloadSha256?: BinaryInput;
  }
  /** A block named by its storage key (full access only). */
  interface BlockByStorageKey {
    storageKey: BinaryInput;
    /** The uri of a private block: signed by its write key. */
    private?: string;
    seq: U64;
    payload?: BinaryInput;
    payloadSha256?: BinaryInput;
  }
  type Block = BlockByUri | BlockByStorageKey;

  interface SignedBlock extends Signature {
    storageKey: Bytes;
  }

  interface Login {
    indexServer: string;
    /** 16 to 64 bytes from the index server. */
    nonce: BinaryInput;
    /** Seconds since the epoch. */
    timestamp: U64;
  }
  interface SignedLogin extends Signature {
    /** The exact bytes signed; they name the page's own origin. */
    message: Bytes;
  }

  /** One entry of a batch's result: its value, or why that item failed. */
  type ItemResult<T> = T | { error: P2pcpError };

  interface DeriveOptions extends KeyOptions {
    kind: 'public' | 'private';
  }
  interface SignOptions extends SignatureOptions {
    algorithm?: Algorithm;
  }

  type TokenEventType = 'tokeninserted' | 'tokenremoved';

  interface Api extends EventTarget {
    /** Agent, protocol, what this page may call and its access; needs no consent. */
    hello(options?: CallOptions): Promise<Hello>;
    /** Asks the person for "site" (default) or "full" access. */
    requestAccess(access?: 'site' | 'full', options?: CallOptions): Promise<AccessGrant>;
    /** The person's keys (site access): label, type, fingerprint, default. */
    listKeys(options?: CallOptions): Promise<KeyInfo[]>;
    identity(options?: KeyOptions): Promise<Identity>;
    /** SHA-256("p2pcp/v1/public\0" ‖ SPKI ‖ uri): 32 bytes. */
    publicStorageKey(uri: string, options?: KeyOptions): Promise<Bytes>;
    /** 32 bytes in the page's space; needs the token. */
    privateStorageKey(uri: string, options?: KeyOptions): Promise<Bytes>;
    /** Many storage keys in few requests; one entry per uri, in order. */
    deriveStorageKeys(uris: string[], options: DeriveOptions): Promise<ItemResult<{ storageKey: Bytes }>[]>;
    signBlock(block: Block, options?: SignatureOptions): Promise<SignedBlock & { space: string }>;
    signBlocks(blocks: Block[], options?: SignatureOptions): Promise<ItemResult<SignedBlock>[]>;
    /** A login for the page's own origin. */
    signLogin(login: Login, options?: SignatureOptions): Promise<SignedLogin>;
    /** A sealed box that opens only in this page's space, for this uri. */
    seal(uri: string, plaintext: BinaryInput, options?: KeyOptions): Promise<Bytes>;
    open(uri: string, sealed: BinaryInput, options?: KeyOptions): Promise<Bytes>;
    sealMany(items: { uri: string; plaintext: BinaryInput }[], options?: KeyOptions): Promise<ItemResult<{ sealed: Bytes }>[]>;
    openMany(items: { uri: string; sealed: BinaryInput }[], options?: KeyOptions): Promise<ItemResult<{ plaintext: Bytes }>[]>;
    /** Raw signing: full access, and only where the administrator's policy allows it. */
    sign(message: BinaryInput, options?: SignOptions): Promise<Signature>;

    addEventListener(type: TokenEventType, listener: (event: CustomEvent<Record<string, never>>) => void,
      options?: boolean | AddEventListenerOptions): void;
    addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
      options?: boolean | AddEventListenerOptions): void;

    readonly P2pcpError: P2pcpErrorConstructor;
    /** Synchronous helpers (they talk to no one; a malformed input throws a P2pcpError BAD_REQUEST). */
    toHex(bytes: BinaryInput): string;
    fromHex(hex: string): Bytes;
    toBase64(bytes: BinaryInput): string;
    fromBase64(base64: string): Bytes;
  }
}

interface Window {
  /** Present when the p2pcp extension is installed and allowed on this site. */
  readonly p2pcp?: P2pcp.Api;
}
