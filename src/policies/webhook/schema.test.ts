// The `webhook:` schema takes config-reference.yaml's form as written, fills in every default, and turns
// each scheme's settings into its verifier's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { verifierConfigOf, WebhookSchema, type WebhookConfig } from './schema.js';

function valid(input: unknown): WebhookConfig {
  const c = Value.Default(WebhookSchema, structuredClone(input));
  assert.ok(
    Value.Check(WebhookSchema, c),
    JSON.stringify([...Value.Errors(WebhookSchema, c)].map((e) => e.path + ' ' + e.message)),
  );
  return c as WebhookConfig;
}

describe('webhook schema', () => {
  it("takes config-reference.yaml's form and fills in the defaults", () => {
    const c = valid({
      scheme: 'stripe',
      secrets: ['whsec_x'],
      tolerance_s: 300,
      delivery: { attempts: 8, backoff_ms: 1000, timeout_ms: 5000 },
    });
    assert.deepEqual(c.delivery, {
      attempts: 8,
      backoff_ms: 1000,
      max_backoff_ms: 300_000,
      timeout_ms: 5000,
      concurrency: 8,
    });
    assert.deepEqual(c.idempotency, { retention_h: 72 });
    assert.equal(c.max_body_bytes, 1_048_576);
    assert.deepEqual(verifierConfigOf(c), { scheme: 'stripe', secrets: ['whsec_x'], toleranceS: 300 });
  });

  it('refuses an unknown scheme, no secrets, and keys that are not templates', () => {
    const bad = (input: unknown) =>
      !Value.Check(WebhookSchema, Value.Default(WebhookSchema, structuredClone(input)));
    assert.ok(bad({ scheme: 'paypal', secrets: ['s'] }));
    assert.ok(bad({ scheme: 'github', secrets: [] }));
    assert.ok(bad({ scheme: 'github', secrets: ['s'], delivery: { order_key: 'X-Shop-Id' } }));
    assert.ok(!bad({ scheme: 'github', secrets: ['s'], delivery: { order_key: '${header.X-Shop-Id}' } }));
    assert.ok(!bad({ scheme: 'github', secrets: ['s'], idempotency: { key: 'evt-${body.data.id}' } }));
  });

  it("maps hmac's settings with their defaults, and needs them", () => {
    const c = valid({
      scheme: 'hmac',
      secrets: ['k'],
      hmac: { header: 'X-Signature', timestamp_header: 'X-Ts' },
    });
    assert.deepEqual(verifierConfigOf(c), {
      scheme: 'hmac',
      secrets: ['k'],
      header: 'X-Signature',
      algorithm: 'sha256',
      encoding: 'hex',
      prefix: '',
      timestampHeader: 'X-Ts',
      idHeader: undefined,
      payload: '{body}',
      toleranceS: 300,
    });
    assert.throws(() => verifierConfigOf(valid({ scheme: 'hmac', secrets: ['k'] })), /needs `hmac/);
  });
});
