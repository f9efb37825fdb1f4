// Identity headers belong to the gateway: on every route, whether or not it authenticates, whatever a client
// sent as X-Authenticated-*, X-Consumer-* (or the configured names) is removed before anything else runs, so
// an upstream that trusts these headers can only ever see the ones the auth policy set.
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';

export const schema = Type.Object({}, { additionalProperties: false });

interface IdentityHeadersSection {
  readonly identity_headers?: {
    readonly user: string;
    readonly roles: string;
    readonly scopes: string;
    readonly tier: string;
    readonly consumer: string;
    readonly strip: readonly string[];
  };
}

export const identity = definePolicy({
  name: 'identity_headers',
  phase: 'receive',
  summary:
    'Removes client-sent identity headers (X-Authenticated-*, X-Consumer-*, configured names) on every route.',
  schema,
  implicitConfig: () => ({}),
  create(_config, ctx) {
    const section = (ctx.section('auth') ?? {}) as IdentityHeadersSection;
    const h = section.identity_headers;
    const names = new Set<string>(
      h ? [h.user, h.roles, h.scopes, h.tier, h.consumer, ...h.strip].map((n) => n.toLowerCase()) : [],
    );
    const owned = (name: string): boolean =>
      name.startsWith('x-authenticated-') || name.startsWith('x-consumer-') || names.has(name);
    // Usually every owned name starts with "x": then only such headers need a closer look.
    const onlyX = [...names].every((n) => n.charCodeAt(0) === 0x78);
    return {
      onRequest(ex: Exchange): void {
        const raw = ex.headers.raw;
        if (onlyX) {
          let any = false;
          for (let i = 0; i < raw.length; i += 2) {
            const c = raw[i]!.charCodeAt(0);
            if (c === 0x78 || c === 0x58) {
              any = true;
              break;
            }
          }
          if (!any) return;
        }
        ex.headers.deleteWhere(owned);
      },
    };
  },
});
