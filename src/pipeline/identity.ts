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
