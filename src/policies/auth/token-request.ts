// One token request (RFC 6749 §4.4, client_credentials): the form body read within its limit, the grant
// type, the client's authentication (Basic or in the body, never both) and the scopes it may be granted.
// A refusal is an RFC 6749 §5.2 error response, never a problem+json.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RequestBodyTooLargeError, readStream } from '../../pipeline/body.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { gatewayResponse, type GatewayResponse } from '../../pipeline/gateway-response.js';
import { verifyPassword } from './passwords.js';
import type { Consumer } from './schema.js';

/** Limit of the form body; a token request is a few hundred bytes. */
export const TOKEN_REQUEST_MAX_BYTES = 8_192;
const FORM_TYPE = 'application/x-www-form-urlencoded';
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const PARAMS = ['grant_type', 'scope', 'client_id', 'client_secret'] as const;

type ErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope';

/** A refused token request: RFC 6749 §5.2 error code and description. */
export class Refusal {
  constructor(
    readonly error: ErrorCode,
    readonly description: string,
    readonly status = error === 'invalid_client' ? 401 : 400,
  ) {}
}

/** The whole grant: form, grant type, client authentication, scope. */
export async function grant(
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
async function readBody(stream: Readable): Promise<Buffer | 'too_large' | 'failed'> {
  // A later error (client gone, ingress body limit) must not become an unhandled 'error' event.
  stream.on('error', ignore);
  try {
    const bytes = await readStream(stream, TOKEN_REQUEST_MAX_BYTES, (limit) => {
      stream.resume();
      return new RequestBodyTooLargeError(limit);
    });
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  } catch (err) {
    return err instanceof RequestBodyTooLargeError ? 'too_large' : 'failed';
  }
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

/** Strict form decoding: a malformed escape makes the credentials malformed (not read leniently). */
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
export function tokenHeaders(): Record<string, string> {
  return { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' };
}

export function refusalResponse(r: Refusal): GatewayResponse {
  const headers = tokenHeaders();
  // RFC 6749 §5.2: invalid_client with 401 carries the challenge of the scheme the client may use.
  if (r.error === 'invalid_client') headers['www-authenticate'] = 'Basic realm="portico"';
  const body = JSON.stringify({ error: r.error, error_description: r.description });
  return gatewayResponse(r.status, headers, body, 'token-' + r.error.replace(/_/g, '-'));
}
