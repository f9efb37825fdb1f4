// The gateway's own OAuth 2.0 token endpoint for partners (client_credentials, RFC 6749 §4.4): it
// authenticates a config consumer by its client secret, signs a short-lived JWT access token (RFC 9068
// profile) with the first configured key, publishes every key as a JWKS, and verifies the tokens it issued.
import { createHash, createPrivateKey, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { createLocalJWKSet, errors, exportJWK, importPKCS8, jwtVerify, SignJWT, type JWK } from 'jose';
import { problems } from '../../http/problems.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { gatewayResponse, type GatewayResponse } from '../../pipeline/gateway-response.js';
import type { Identity } from '../../pipeline/identity.js';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { problemToResponse } from '../../pipeline/run-pipeline.js';
import { verifyPassword } from './passwords.js';
import type { Consumer, TokenEndpointConfig } from './schema.js';

/** What `verify` hands the auth policy: who the partner is, and the routes the token is valid on. */
export interface PartnerToken {
  readonly identity: Identity;
  readonly routes: readonly string[];
}

export interface TokenIssuer {
  /** POST {path}: the client_credentials grant. Every outcome is a response (RFC 6749 §5.1 / §5.2). */
  handleToken(ex: Exchange): Promise<GatewayResponse>;
  /** GET/HEAD {jwks_path}: the public keys, each with kid, alg and use "sig". */
  handleJwks(ex: Exchange): GatewayResponse;
  /**
   * Verifies a token this gateway issued. Synchronous on a cache hit, a Promise otherwise; throws (or
   * rejects with) TokenRejected on any failure, including a token whose consumer left the config.
   */
  verify(token: string): Promise<PartnerToken> | PartnerToken;
}

/** A token `verify` refused. `description` is safe to send to the client (no token or key contents). */
export class TokenRejected extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = 'TokenRejected';
  }
}

export interface TokenIssuerDeps {
  /** Directory relative `private_key_file` paths start from. */
  readonly baseDir: string;
  /** Clock in epoch ms (tests). */
  readonly now?: () => number;
}

type SigningKeyConfig = TokenEndpointConfig['keys'][number];
type SigningAlg = SigningKeyConfig['alg'];
type ErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope';

/** Limit of the form body; a token request is a few hundred bytes. */
export const TOKEN_REQUEST_MAX_BYTES = 8_192;
const MAX_TOKEN_CHARS = 8_192;
const CLOCK_SKEW_S = 30;
const CACHE_CAPACITY = 10_000;
const FORM_TYPE = 'application/x-www-form-urlencoded';
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const PARAMS = ['grant_type', 'scope', 'client_id', 'client_secret'] as const;
const KEY_TYPES: Record<
  SigningAlg,
  { readonly type: string; readonly curve?: string; readonly label: string }
> = {
  EdDSA: { type: 'ed25519', label: 'an Ed25519 key' },
  ES256: { type: 'ec', curve: 'prime256v1', label: 'a P-256 (prime256v1) key' },
};

/** A refused token request: RFC 6749 §5.2 error code and description. */
class Refusal {
  constructor(
    readonly error: ErrorCode,
    readonly description: string,
    readonly status = error === 'invalid_client' ? 401 : 400,
  ) {}
}

interface LoadedKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly pem: string;
  readonly publicKey: KeyObject;
}

/** What a verified token says, kept in the cache; the consumer is looked up again on every use. */
interface TokenClaims {
  readonly sub: string;
  readonly scopes: readonly string[];
  readonly routes: readonly string[];
  /** Last identity built, for the consumer object it was built from. */
  memo?: { readonly consumer: Consumer; readonly token: PartnerToken };
}

/**
 * Loads and checks every key (a bad key is a PolicyConfigError, thrown here at load time), imports the
 * signing key and builds the JWKS once.
 */
export async function createTokenIssuer(
  config: TokenEndpointConfig,
  consumers: { byId(id: string): Consumer | undefined },
  deps: TokenIssuerDeps,
): Promise<TokenIssuer> {
  const now = deps.now ?? Date.now;
  const loaded = loadKeys(config.keys, deps.baseDir);
  const signer = loaded[0]!;
  const signingKey = await importPKCS8(signer.pem, signer.alg).catch((err: unknown) => {
    throw new PolicyConfigError(`signing key "${signer.kid}": ${message(err)}`, ['keys', 0]);
  });
  const jwks = await Promise.all(loaded.map(publicJwk));
  const jwksBody = JSON.stringify({ keys: jwks });
  const keySet = createLocalJWKSet({ keys: jwks });
  const verifyOptions = {
    algorithms: [...new Set(loaded.map((k) => k.alg))],
    issuer: config.issuer,
    audience: config.audience,
    typ: 'at+jwt',
    clockTolerance: CLOCK_SKEW_S,
    requiredClaims: ['exp', 'iat', 'sub', 'jti'],
  };
  const cache = new ExpiringCache<TokenClaims>(CACHE_CAPACITY);

  async function issue(consumer: Consumer, scopes: readonly string[]): Promise<string> {
    const iat = Math.floor(now() / 1000);
    return new SignJWT({ client_id: consumer.id, scope: scopes.join(' '), routes: consumer.token_routes })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })
      .setIssuer(config.issuer)
      .setAudience(config.audience)
      .setSubject(consumer.id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + config.ttl_s)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(signingKey);
  }

  async function handleToken(ex: Exchange): Promise<GatewayResponse> {
    if (ex.method !== 'POST') return problemToResponse(ex, problems.methodNotAllowed(ex.method, ['POST']));
    const outcome = await grant(ex, consumers);
    if (outcome instanceof Refusal) return refusalResponse(outcome);
    const token = await issue(outcome.consumer, outcome.scopes);
    const body = {
      access_token: token,
      token_type: 'Bearer',
      expires_in: config.ttl_s,
      scope: outcome.scopes.join(' '),
    };
    return gatewayResponse(200, tokenHeaders(), JSON.stringify(body));
  }

  function handleJwks(ex: Exchange): GatewayResponse {
    if (ex.method !== 'GET' && ex.method !== 'HEAD')
      return problemToResponse(ex, problems.methodNotAllowed(ex.method, ['GET', 'HEAD']));
    // A fresh header object per response: the writer adds content-length to it.
    return gatewayResponse(
      200,
      { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
      jwksBody,
    );
  }

  function partnerToken(claims: TokenClaims): PartnerToken {
    const consumer = consumers.byId(claims.sub);
    if (consumer === undefined) throw new TokenRejected('token client is no longer known');
    if (claims.memo?.consumer === consumer) return claims.memo.token;
    const identity: Identity = Object.freeze({
      id: consumer.id,
      method: 'partner_token',
      configName: 'partner_token',
      tier: consumer.tier,
      roles: consumer.roles,
      scopes: claims.scopes,
      metadata: consumer.metadata,
    });
    const token = Object.freeze({ identity, routes: claims.routes });
    claims.memo = { consumer, token };
    return token;
  }

  async function verifyFresh(token: string, digest: string, t: number): Promise<PartnerToken> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keySet, { ...verifyOptions, currentDate: new Date(t) }));
    } catch (err) {
      throw new TokenRejected(rejection(err));
    }
    const claims = readClaims(payload);
    // jose refuses from ceil(exp + tolerance) seconds on: the cached entry ends at that same instant.
    cache.set(digest, claims, Math.ceil((payload.exp as number) + CLOCK_SKEW_S) * 1000);
    return partnerToken(claims);
  }

  return {
    handleToken,
    handleJwks,
    verify: function verifyPartnerToken(token) {
      if (token.length > MAX_TOKEN_CHARS) throw new TokenRejected('token too large');
      const digest = createHash('sha256').update(token).digest('base64');
      const t = now();
      const hit = cache.get(digest, t);
      return hit === undefined ? verifyFresh(token, digest, t) : partnerToken(hit);
    },
  };
}

/** The whole grant: form, grant type, client authentication, scope. */
async function grant(
  ex: Exchange,
  consumers: { byId(id: string): Consumer | undefined },
): Promise<{ consumer: Consumer; scopes: readonly string[] } | Refusal> {
  const form = await readForm(ex);
  if (form instanceof Refusal) return form;
  const grantType = form.get('grant_type');
  if (grantType === undefined) return new Refusal('invalid_request', 'grant_type is missing');
  if (grantType !== 'client_credentials')
    return new Refusal('unsupported_grant_type', 'only client_credentials is supported');
  const client = clientCredentials(ex, form);
  if (client instanceof Refusal) return client;
  const consumer = consumers.byId(client.id);
  const hash = consumer?.client_secret_hash;
  // One description for unknown client, no secret configured and wrong secret: ids are not enumerable.
  if (consumer === undefined || hash === undefined || !(await secretMatches(client.secret, hash)))
    return new Refusal('invalid_client', 'client authentication failed');
  const scopes = grantedScopes(form.get('scope'), consumer.token_scopes);
  return scopes instanceof Refusal ? scopes : { consumer, scopes };
}

/** The request's form parameters; empty values count as absent (RFC 6749 §3.1). */
async function readForm(ex: Exchange): Promise<Map<string, string> | Refusal> {
  const type = ex.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== FORM_TYPE) return new Refusal('invalid_request', `the content type must be ${FORM_TYPE}`);
  const declared = Number(ex.headers.get('content-length') ?? '0');
  if (declared > TOKEN_REQUEST_MAX_BYTES) return tooLarge();
  const raw = ex.requestBody;
  const body =
    raw === null
      ? Buffer.alloc(0)
      : raw instanceof Uint8Array
        ? raw.length > TOKEN_REQUEST_MAX_BYTES
          ? 'too_large'
          : Buffer.from(raw)
        : await readBody(raw);
  if (body === 'too_large') return tooLarge();
  if (body === 'failed') return new Refusal('invalid_request', 'the request body could not be read');
  const params = new URLSearchParams(body.toString('utf8'));
  const form = new Map<string, string>();
  for (const name of PARAMS) {
    const values = params.getAll(name);
    // RFC 6749 §3.2: parameters MUST NOT be included more than once.
    if (values.length > 1) return new Refusal('invalid_request', `${name} is repeated`);
    if (values[0] !== undefined && values[0] !== '') form.set(name, values[0]);
  }
  return form;
}

function tooLarge(): Refusal {
  return new Refusal('invalid_request', `the request body exceeds ${TOKEN_REQUEST_MAX_BYTES} bytes`, 413);
}

/** Reads at most the limit; past it, the rest is drained (not read into memory) so the connection survives. */
function readBody(stream: Readable): Promise<Buffer | 'too_large' | 'failed'> {
  return new Promise((settle) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: Buffer | 'too_large' | 'failed') => {
      stream.off('data', onData).off('end', onEnd).off('error', onError);
      // A later error (client gone, ingress body limit) must not become an unhandled 'error' event.
      stream.on('error', ignore);
      settle(result);
    };
    const onData = (chunk: Buffer | string | Uint8Array) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
      size += buf.length;
      if (size <= TOKEN_REQUEST_MAX_BYTES) {
        chunks.push(buf);
        return;
      }
      done('too_large');
      stream.resume();
    };
    const onEnd = () => done(Buffer.concat(chunks));
    const onError = () => done('failed');
    stream.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

function ignore(): void {}

/** client_secret_basic or client_secret_post (RFC 6749 §2.3.1), never both (§2.3). */
function clientCredentials(
  ex: Exchange,
  form: Map<string, string>,
): { id: string; secret: string } | Refusal {
  const authorization = ex.headers.getAll('authorization');
  const inBody = form.has('client_id') || form.has('client_secret');
  if (authorization.length > 1) return new Refusal('invalid_request', 'more than one Authorization header');
  const header = authorization[0];
  if (header !== undefined) {
    if (!/^Basic(?: |$)/i.test(header))
      return new Refusal('invalid_client', 'only HTTP Basic client authentication is supported');
    if (inBody)
      return new Refusal('invalid_request', 'client credentials both in Authorization and in the body');
    return decodeBasic(header);
  }
  const id = form.get('client_id');
  if (id === undefined)
    return form.has('client_secret')
      ? new Refusal('invalid_request', 'client_secret without client_id')
      : new Refusal('invalid_client', 'client authentication is required');
  const secret = form.get('client_secret');
  if (secret === undefined) return new Refusal('invalid_client', 'client_secret is missing');
  return { id, secret };
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
function decodeBasic(header: string): { id: string; secret: string } | Refusal {
  const encoded = BASIC.exec(header)?.[1];
  const text = encoded === undefined ? '' : Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  const id = colon > 0 ? formDecode(text.slice(0, colon)) : undefined;
  const secret = colon > 0 ? formDecode(text.slice(colon + 1)) : undefined;
  if (id === undefined || secret === undefined || id === '' || secret === '')
    return new Refusal('invalid_request', 'malformed HTTP Basic credentials');
  return { id, secret };
}

function formDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** sha256:<hex> (a high-entropy secret) compared in constant time; bcrypt and scrypt by verifyPassword. */
async function secretMatches(secret: string, hash: string): Promise<boolean> {
  if (!hash.startsWith('sha256:')) return verifyPassword(secret, hash);
  const expected = Buffer.from(hash.slice('sha256:'.length), 'hex');
  const actual = createHash('sha256').update(secret, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** RFC 6749 §3.3: the requested scopes must all be grantable; none requested means all of them. */
function grantedScopes(
  requested: string | undefined,
  grantable: readonly string[],
): readonly string[] | Refusal {
  const asked = requested?.split(' ').filter((s) => s !== '') ?? [];
  if (asked.length === 0) return [...new Set(grantable)];
  if (!asked.every((s) => SCOPE_TOKEN.test(s))) return new Refusal('invalid_scope', 'malformed scope');
  const allowed = new Set(grantable);
  if (!asked.every((s) => allowed.has(s)))
    return new Refusal('invalid_scope', 'the requested scope exceeds what this client may be granted');
  return [...new Set(asked)];
}

/** RFC 6749 §5.1: token responses, errors included, are never cached. */
function tokenHeaders(): Record<string, string> {
  return { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' };
}

function refusalResponse(r: Refusal): GatewayResponse {
  const headers = tokenHeaders();
  // RFC 6749 §5.2: invalid_client with 401 carries the challenge of the scheme the client may use.
  if (r.error === 'invalid_client') headers['www-authenticate'] = 'Basic realm="portico"';
  const body = JSON.stringify({ error: r.error, error_description: r.description });
  return gatewayResponse(r.status, headers, body, 'token-' + r.error.replace(/_/g, '-'));
}

function readClaims(payload: Record<string, unknown>): TokenClaims {
  const { sub, client_id: clientId, scope, routes } = payload;
  const scopeOk = scope === undefined || typeof scope === 'string';
  const routesOk = Array.isArray(routes) && routes.every((r) => typeof r === 'string');
  if (typeof sub !== 'string' || clientId !== sub || !scopeOk || !routesOk)
    throw new TokenRejected('token claims are malformed');
  const scopes = Object.freeze((scope ?? '').split(' ').filter((s) => s !== ''));
  return { sub, scopes, routes: Object.freeze([...(routes as string[])]) };
}

/** A short, stable reason for the client; jose's own messages may quote claim values. */
function rejection(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `token ${err.claim} claim is not accepted`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof errors.JWKSNoMatchingKey) return 'token key is unknown';
  return 'token is malformed';
}

function loadKeys(keys: readonly SigningKeyConfig[], baseDir: string): LoadedKey[] {
  if (keys.length === 0)
    throw new PolicyConfigError('token_endpoint needs at least one signing key', ['keys']);
  const seen = new Set<string>();
  return keys.map((key, i) => {
    if (seen.has(key.kid))
      throw new PolicyConfigError(`signing key kid "${key.kid}" is used twice`, ['keys', i]);
    seen.add(key.kid);
    return loadKey(key, i, baseDir);
  });
}

function loadKey(key: SigningKeyConfig, i: number, baseDir: string): LoadedKey {
  const where = `signing key "${key.kid}"`;
  const pem = keyPem(key, i, baseDir);
  if (!pem.includes('-----BEGIN PRIVATE KEY-----'))
    throw new PolicyConfigError(`${where}: not a PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----")`, [
      'keys',
      i,
    ]);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new PolicyConfigError(`${where}: cannot parse the private key: ${message(err)}`, ['keys', i]);
  }
  const expected = KEY_TYPES[key.alg];
  const type = privateKey.asymmetricKeyType;
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (type !== expected.type || curve !== expected.curve)
    throw new PolicyConfigError(
      `${where}: alg ${key.alg} needs ${expected.label}, this is ${curve === undefined ? type : `${type} ${curve}`}`,
      ['keys', i, 'alg'],
    );
  return { kid: key.kid, alg: key.alg, pem, publicKey: createPublicKey(privateKey) };
}

function keyPem(key: SigningKeyConfig, i: number, baseDir: string): string {
  const where = `signing key "${key.kid}"`;
  if (key.private_key !== undefined && key.private_key_file !== undefined)
    throw new PolicyConfigError(`${where}: set private_key or private_key_file, not both`, ['keys', i]);
  if (key.private_key !== undefined) return key.private_key;
  if (key.private_key_file === undefined)
    throw new PolicyConfigError(`${where}: private_key or private_key_file is required`, ['keys', i]);
  const path = isAbsolute(key.private_key_file)
    ? key.private_key_file
    : resolve(baseDir, key.private_key_file);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyConfigError(`${where}: cannot read ${path}: ${message(err)}`, [
      'keys',
      i,
      'private_key_file',
    ]);
  }
}

/** Only the public members: a JWK exported from a public KeyObject has no d, but the list is explicit. */
async function publicJwk(key: LoadedKey): Promise<JWK> {
  const { kty, crv, x, y } = await exportJWK(key.publicKey);
  return y === undefined
    ? { kty, crv, x, kid: key.kid, alg: key.alg, use: 'sig' }
    : { kty, crv, x, y, kid: key.kid, alg: key.alg, use: 'sig' };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Bounded map whose entries end at a given time; the oldest entry leaves first when it is full. */
class ExpiringCache<T> {
  private readonly entries = new Map<string, { readonly value: T; readonly until: number }>();

  constructor(private readonly capacity: number) {}

  get(key: string, now: number): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (now < entry.until) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: T, until: number): void {
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, until });
  }
}
