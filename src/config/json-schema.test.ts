// The committed schema/gateway.schema.json must be what the code generates (run `npm run schema`).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gatewayJsonSchema } from './json-schema.js';

it('schema/gateway.schema.json is up to date', () => {
  const committed = readFileSync(new URL('../../schema/gateway.schema.json', import.meta.url), 'utf8');
  assert.equal(committed, gatewayJsonSchema(), 'stale schema: run `npm run schema`');
});

it('describes routes, upstreams and the policy keys', () => {
  const s = JSON.parse(gatewayJsonSchema()) as {
    properties: { routes: { items: { properties: Record<string, unknown> } }; upstreams: unknown };
  };
  const route = s.properties.routes.items.properties;
  for (const key of [
    'name',
    'match',
    'path_prefix',
    'path',
    'upstream',
    'timeout_ms',
    'headers',
    'request_id',
  ])
    assert.ok(key in route, `route.${key} missing`);
  assert.ok(s.properties.upstreams);
});
