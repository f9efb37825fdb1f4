// Static header edits: remove, then set, then add — on the request before it goes upstream and on the
// response before it goes to the client. Names are checked and lowered at load time.
import { Type, type Static } from '@sinclair/typebox';
import { definePolicy, PolicyConfigError, type Policy } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { PROTECTED_REQUEST_HEADERS, PROTECTED_RESPONSE_HEADERS } from '../../pipeline/header-rules.js';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

const Name = Type.String({ pattern: HEADER_NAME_PATTERN, 'x-expected': 'a header name' });
const Value = Type.String({
  pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$',
  'x-expected': 'a header value (no line breaks)',
});

const Edits = Type.Object(
  {
    set: Type.Optional(
      Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Value, {
        description: 'Replace (or create) these headers.',
      }),
    ),
    add: Type.Optional(
      Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Value, {
        description: 'Add a value, keeping existing ones.',
      }),
    ),
    remove: Type.Optional(Type.Array(Name, { description: 'Remove these headers.' })),
  },
  { additionalProperties: false },
);

export const schema = Type.Object(
  {
    request: Type.Optional(Edits),
    response: Type.Optional(Edits),
  },
  { additionalProperties: false },
);
export type HeadersConfig = Static<typeof schema>;

interface CompiledEdits {
  readonly remove: readonly string[];
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
}

function compileEdits(
  e: Static<typeof Edits> | undefined,
  side: 'request' | 'response',
): CompiledEdits | undefined {
  if (!e) return undefined;
  const protectedNames = side === 'request' ? PROTECTED_REQUEST_HEADERS : PROTECTED_RESPONSE_HEADERS;
  // `key` is where the name is written: a list index under remove, the name itself under set / add.
  const check = (name: string, op: string, key: string | number) => {
    if (protectedNames.has(name.toLowerCase()))
      throw new PolicyConfigError(`the gateway manages "${name}"; it cannot be edited here`, [side, op, key]);
    return name;
  };
  const compiled = {
    remove: (e.remove ?? []).map((n, i) => check(n, 'remove', i).toLowerCase()),
    set: Object.entries(e.set ?? {}).map(([n, v]) => [check(n, 'set', n), v] as const),
    add: Object.entries(e.add ?? {}).map(([n, v]) => [check(n, 'add', n), v] as const),
  };
  return compiled.remove.length + compiled.set.length + compiled.add.length === 0 ? undefined : compiled;
}

export const headers = definePolicy({
  name: 'headers',
  phase: 'transform',
  summary: 'Set, add or remove request and response headers.',
  schema,
  create(config) {
    const req = compileEdits(config.request, 'request');
    const res = compileEdits(config.response, 'response');
    const policy: Policy = {};
    if (req) {
      policy.onRequest = (ex: Exchange): void => {
        const h = ex.headers;
        for (const name of req.remove) h.delete(name);
        for (const [name, value] of req.set) h.set(name, value);
        for (const [name, value] of req.add) h.append(name, value);
      };
    }
    if (res) {
      const set = res.set.map(([n, v]) => [n.toLowerCase(), v] as const);
      const add = res.add.map(([n, v]) => [n.toLowerCase(), v] as const);
      policy.onResponse = (_ex: Exchange, r: GatewayResponse): void => {
        const h = r.headers;
        for (const name of res.remove) delete h[name];
        for (const [name, value] of set) h[name] = value;
        for (const [name, value] of add) {
          const existing = h[name];
          h[name] =
            existing === undefined
              ? value
              : Array.isArray(existing)
                ? [...existing, value]
                : [existing, value];
        }
      };
    }
    return policy;
  },
});
