// Test support for the JWT verifier tests: real keys and signed tokens (jose), a JWKS / OIDC discovery
// server on 127.0.0.1, configs defaulted by the real schema, a clock tests move by hand and a log that
// keeps what it is told. Used by *.test.ts files only.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, randomUUID } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import type { PolicyLog } from '../../../pipeline/policy.js';
import { JwtConfigSchema, type JwtAlgorithm, type JwtConfig } from '../schema.js';

/** A JWT config as the schema defaults it; throws when `partial` is not valid config. */
export function jwtConfig(partial: Record<string, unknown>): JwtConfig {
  const config = Value.Default(JwtConfigSchema, structuredClone(partial));
  if (!Value.Check(JwtConfigSchema, config))
    throw new Error(`invalid test config: ${JSON.stringify([...Value.Errors(JwtConfigSchema, config)])}`);
  return config;
}

export interface TestKey {
  readonly alg: JwtAlgorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicPem: string;
  /** Public JWK with kid, alg and use. */
  readonly jwk: JWK;
}

export async function testKey(
  alg: Exclude<JwtAlgorithm, `HS${string}`>,
  kid: string = randomUUID(),
): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicPem: await exportSPKI(publicKey), jwk };
}

/** Epoch seconds of `ms`. */
export const seconds = (ms: number) => Math.floor(ms / 1000);

/** A token valid for an hour from `nowMs`, with sub "alice", signed by `key` (its kid in the header). */
export function signToken(
  key: TestKey | { alg: JwtAlgorithm; secret: Uint8Array },
  claims: JWTPayload = {},
  opts: { nowMs?: number; header?: Record<string, unknown> } = {},
): Promise<string> {
  const iat = seconds(opts.nowMs ?? Date.now());
  const header = { alg: key.alg, ...('kid' in key ? { kid: key.kid } : {}), ...opts.header };
  return new SignJWT({ sub: 'alice', iat, exp: iat + 3600, ...claims })
    .setProtectedHeader(header)
    .sign('secret' in key ? key.secret : key.privateKey);
}

/** An HS256 token over raw header and payload JSON, for what jose refuses to sign (odd headers, deep JSON). */
export function rawHs256Token(header: Record<string, unknown>, payloadJson: string, secret: string): string {
  const signingInput = `${b64(JSON.stringify({ alg: 'HS256', ...header }))}.${b64(payloadJson)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}
const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** An unsigned token ("alg": "none", RFC 7519 §6). */
export function unsignedToken(claims: JWTPayload): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

/** A clock that moves only when told. */
export function manualClock(start = Date.UTC(2030, 0, 1)) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly message: string;
}

export function recordingLog(): PolicyLog & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    entries,
    info: (fields, message) => void entries.push({ level: 'info', fields, message }),
    warn: (fields, message) => void entries.push({ level: 'warn', fields, message }),
    error: (fields, message) => void entries.push({ level: 'error', fields, message }),
  };
}

/** What the IdP server answers; tests change it while it runs. */
export interface IdpState {
  keys: JWK[];
  /** Cache-Control of the JWKS answer (none when undefined). */
  cacheControl: string | undefined;
  /** 'up' answers, 'error' answers 503, 'hang' never answers. */
  mode: 'up' | 'error' | 'hang';
  /** The issuer the discovery document names (default: the server's base URL). */
  issuer: string | undefined;
}

export interface TestIdp {
  readonly base: string;
  readonly jwksUrl: string;
  readonly state: IdpState;
  /** Requests per path. */
  hits(path?: string): number;
  /** Resolves once the server has had `n` requests for `path`. */
  waitForHits(n: number, path?: string): Promise<void>;
  close(): Promise<void>;
}

/** An IdP on 127.0.0.1: /jwks and /.well-known/openid-configuration. */
export async function startIdp(keys: JWK[]): Promise<TestIdp> {
  const state: IdpState = { keys, cacheControl: undefined, mode: 'up', issuer: undefined };
  const counts = new Map<string, number>();
  const waiters: (() => void)[] = [];
  const hung: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    counts.set(path, (counts.get(path) ?? 0) + 1);
    waiters.splice(0).forEach((wake) => wake());
    if (state.mode === 'hang') return void hung.push(res);
    if (state.mode === 'error') return void res.writeHead(503).end();
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (path === '/jwks') {
      if (state.cacheControl !== undefined) headers['cache-control'] = state.cacheControl;
      res.writeHead(200, headers).end(JSON.stringify({ keys: state.keys }));
    } else if (path === '/.well-known/openid-configuration') {
      res.writeHead(200, headers).end(
        JSON.stringify({
          issuer: state.issuer ?? base,
          jwks_uri: `${base}/jwks`,
          response_types_supported: [],
        }),
      );
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const hits = (path = '/jwks') => counts.get(path) ?? 0;
  return {
    base,
    jwksUrl: `${base}/jwks`,
    state,
    hits,
    async waitForHits(n, path = '/jwks') {
      while (hits(path) < n) await new Promise<void>((wake) => waiters.push(wake));
    },
    close() {
      hung.forEach((res) => res.destroy());
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A URL nothing listens on (ECONNREFUSED). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/jwks`;
}

/** Resolves once `condition` holds (checked every 5 ms); rejects after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await settle(5);
  }
}

/** Lets pending promise callbacks and I/O run. */
export const settle = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));
