// Fixtures of the token endpoint's tests: real keys (generated once), config consumers with client secrets,
// an issuer on a settable clock, and requests as the endpoint receives them.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { testExchange } from '../../pipeline/testing.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { hashApiKey, hashPassword } from './passwords.js';
import type { Consumer, TokenEndpointConfig } from './schema.js';
import { createTokenIssuer, TokenRejected, type TokenIssuer } from './token-issuer.js';

export const FORM = 'application/x-www-form-urlencoded';
export const T0 = Date.UTC(2030, 0, 1);

export function pkcs8(kind: 'ed25519' | 'P-256' | 'P-384' | 'rsa'): string {
  const pair =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: kind });
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export const KEY_A = pkcs8('ed25519');
export const KEY_B = pkcs8('P-256');
export const keyA = { kid: 'a', alg: 'EdDSA' as const, private_key: KEY_A };
export const keyB = { kid: 'b', alg: 'ES256' as const, private_key: KEY_B };

export function consumer(c: Partial<Consumer> & { id: string }): Consumer {
  return { roles: [], scopes: [], metadata: {}, api_keys: [], token_scopes: [], token_routes: [], ...c };
}

export const SECRET = 'partner-secret-0123456789';
export const ODD_SECRET = 'p:a s+%é';
export const PW = 'correct horse';
export const PW_HASH = await hashPassword(PW, { cost: 4 });
export const CONSUMERS: readonly Consumer[] = [
  consumer({
    id: 'acme',
    tier: 'gold',
    roles: ['partner'],
    metadata: { region: 'eu' },
    client_secret_hash: hashApiKey(SECRET),
    token_scopes: ['orders:read', 'orders:write'],
    token_routes: ['orders', 'invoices'],
  }),
  consumer({ id: 'odd.co', client_secret_hash: hashApiKey(ODD_SECRET), token_scopes: ['x'] }),
  consumer({ id: 'slow', client_secret_hash: PW_HASH, token_scopes: ['a'], token_routes: ['r'] }),
  consumer({ id: 'nosecret', token_scopes: ['a'] }),
];

export function config(keys: TokenEndpointConfig['keys']): TokenEndpointConfig {
  return {
    path: '/oauth/token',
    jwks_path: '/.well-known/jwks.json',
    issuer: 'https://api.example.com',
    audience: 'portico',
    ttl_s: 300,
    keys,
  };
}

export interface Setup {
  issuer: TokenIssuer;
  clock: { t: number };
  known: Map<string, Consumer>;
}

export async function setup(
  keys: TokenEndpointConfig['keys'] = [keyA],
  known?: Map<string, Consumer>,
): Promise<Setup> {
  const clock = { t: T0 };
  const map = known ?? new Map(CONSUMERS.map((c) => [c.id, c]));
  const issuer = await createTokenIssuer(
    config(keys),
    { byId: (id) => map.get(id) },
    {
      baseDir: process.cwd(),
      now: () => clock.t,
    },
  );
  return { issuer, clock, known: map };
}

/** A request to the token endpoint; testExchange has no method parameter, so it is set here. */
export function request(
  body: string,
  headers: string[] = [],
  contentType: string | null = FORM,
  method = 'POST',
): Exchange {
  const ex = testExchange(contentType === null ? headers : ['Content-Type', contentType, ...headers]);
  Object.defineProperty(ex, 'method', { value: method });
  ex.requestBody = Readable.from([Buffer.from(body)]);
  return ex;
}

export function basic(id: string, secret: string): string[] {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return ['Authorization', 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')];
}

export function json(res: GatewayResponse): Record<string, unknown> {
  assert.equal(typeof res.body, 'string');
  return JSON.parse(res.body as string) as Record<string, unknown>;
}

export async function tokenFor(issuer: TokenIssuer, body = 'grant_type=client_credentials'): Promise<string> {
  const res = await issuer.handleToken(request(body, basic('acme', SECRET)));
  assert.equal(res.status, 200, String(res.body));
  return json(res).access_token as string;
}

export async function rejected(issuer: TokenIssuer, token: string): Promise<string> {
  try {
    await issuer.verify(token);
  } catch (err) {
    assert.ok(err instanceof TokenRejected, String(err));
    return err.description;
  }
  assert.fail('the token was accepted');
}
