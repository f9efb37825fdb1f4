// Who the client is, once authenticated: one model for every method (JWT, API key, Basic, forward-auth,
// the gateway's own partner tokens). Set by the auth policy; read by authorization, rate limiting by tier,
// logs and metrics.
import { createStateKey } from './exchange.js';

export type AuthMethod = 'jwt' | 'api_key' | 'basic' | 'forward_auth' | 'partner_token';

export interface Identity {
  /** Consumer id: the config consumer's id, the JWT's consumer claim (default `sub`), forward-auth's user. */
  readonly id: string;
  /** How the client authenticated, and with which named config (`jwt:internal` → method jwt, name internal). */
  readonly method: AuthMethod;
  readonly configName: string;
  /** Rate-limit tier, when the consumer has one. */
  readonly tier: string | undefined;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** Free-form consumer metadata from the config (never secrets). */
  readonly metadata: Readonly<Record<string, string>>;
}

export const IDENTITY = createStateKey<Identity>('auth.identity');

/** A part of an Identity that becomes an upstream header. */
export type IdentityField = 'id' | 'tier' | 'roles' | 'scopes';

/**
 * What a header value cannot safely hold: control characters (0x00–0x1F, tab included, and 0x7F), which
 * would split or end the header, and characters beyond Latin-1, which no HTTP/1.1 field value can carry
 * (the upstream client refuses them). Visible ASCII, space and 0x80–0xFF pass.
 */
const UNSAFE_HEADER_TEXT = /[^\x20-\x7e\x80-\xff]/;

/** Whether `value` is a string that can go into a header value as is. One regex test, no allocation. */
export function isHeaderSafe(value: unknown): value is string {
  return typeof value === 'string' && !UNSAFE_HEADER_TEXT.test(value);
}

/**
 * The first part of `identity` that cannot become an identity header — a non-string, an empty id, or text
 * with control or non-Latin-1 characters — or undefined when every part can. The auth policy refuses such an
 * identity as an invalid credential (401) before anything reaches the upstream.
 */
export function identityFault(identity: Identity): IdentityField | undefined {
  if (!isHeaderSafe(identity.id) || identity.id === '') return 'id';
  if (identity.tier !== undefined && !isHeaderSafe(identity.tier)) return 'tier';
  const { roles, scopes } = identity;
  for (let i = 0; i < roles.length; i++) if (!isHeaderSafe(roles[i])) return 'roles';
  for (let i = 0; i < scopes.length; i++) if (!isHeaderSafe(scopes[i])) return 'scopes';
  return undefined;
}
