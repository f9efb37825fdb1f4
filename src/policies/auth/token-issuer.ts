// The gateway's own OAuth 2.0 token endpoint for partners (client_credentials, RFC 6749 §4.4): it
// authenticates a config consumer by its client secret, signs a short-lived JWT access token (RFC 9068
// profile) with the first configured key, publishes every key as a JWKS, and verifies the tokens it issued.
// The parts live beside it: token-keys (signing keys), token-request (the grant), token-verification.
import { randomBytes } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { problems } from '../../problems/catalog.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { gatewayResponse, type GatewayResponse } from '../../pipeline/gateway-response.js';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { problemToResponse } from '../../pipeline/run-pipeline.js';
import type { Consumer, TokenEndpointConfig } from './schema.js';
import { loadKeys, message, publicJwk } from './token-keys.js';
import { grant, Refusal, refusalResponse, tokenHeaders } from './token-request.js';
import { createTokenVerifier, type PartnerToken } from './token-verification.js';

export { TOKEN_REQUEST_MAX_BYTES } from './token-request.js';
export { TokenRejected, type PartnerToken } from './token-verification.js';

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

export interface TokenIssuerDeps {
  /** Directory relative `private_key_file` paths start from. */
  readonly baseDir: string;
  /** Clock in epoch ms (tests). */
  readonly now?: () => number;
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
  const algorithms = [...new Set(loaded.map((k) => k.alg))];
  const verify = createTokenVerifier(config, { jwks, algorithms }, consumers, now);

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

  return { handleToken, handleJwks, verify };
}
