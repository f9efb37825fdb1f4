// `webhook:`, `callbacks:` and `webhooks:` mistakes are refused at load with the line of the key at fault,
// and the forms of config-reference.yaml load. `validate` opens no store: nothing is created on disk.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPath } from '../../config/config-issue.js';
import { policyRegistry } from '../registry.js';
import { ResourceRegistry } from '../../compiler/carry-over.js';
import { buildSnapshotFromText } from '../../compiler/compile-gateway.js';

async function issuesOf(text: string, file = 'gateway.yaml'): Promise<string[]> {
  const resources = new ResourceRegistry();
  const result = buildSnapshotFromText(text, file, {
    registry: policyRegistry,
    resources,
    env: {},
    accessLogger: undefined,
    eventLogger: undefined,
  });
  if (result.ok) {
    await resources.release(result.snapshot.resources, false);
    return [];
  }
  return result.issues.map((i) => `${i.line}: ${formatPath(i.path)}: ${i.message}`);
}

const hook = (webhook: string) => `routes:
  - name: hooks
    match: { path: /hooks, methods: [POST] }
    upstream: "http://127.0.0.1:9"
    webhook:
${webhook}
`;

describe('webhook config', () => {
  it("accepts config-reference.yaml's form and opens nothing while validating", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-webhook-config-'));
    try {
      const text = `webhooks:
  store: { path: ./data/hooks.db }
${hook(`      scheme: stripe
      secrets: ["whsec_test"]
      tolerance_s: 300
      delivery: { attempts: 8, backoff_ms: 1000, timeout_ms: 5000 }`)}`;
      assert.deepEqual(await issuesOf(text, join(dir, 'gateway.yaml')), []);
      assert.equal(existsSync(join(dir, 'data')), false, 'validate created the store directory');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown scheme, no secrets, an hmac scheme without its options', async () => {
    assert.match(
      (await issuesOf(hook('      scheme: paypal\n      secrets: ["s"]')))[0]!,
      /^6: routes\[0\]\.webhook\.scheme: .*github, stripe, standard-webhooks, hmac/,
    );
    assert.match((await issuesOf(hook('      scheme: github\n      secrets: []')))[0]!, /secrets/);
    assert.deepEqual(await issuesOf(hook('      scheme: hmac\n      secrets: ["s"]')), [
      '6: routes[0].webhook.hmac: scheme hmac needs `hmac: { header: <signature header> }`',
    ]);
    assert.match(
      (await issuesOf(hook('      scheme: github\n      secrets: ["s"]\n      hmac: { header: X-Sig }')))[0]!,
      /webhook\.hmac: `hmac` options apply to scheme hmac, not github/,
    );
  });

  it('refuses a payload template with an unknown slot and a standard-webhooks secret that is not base64', async () => {
    const [payload] = await issuesOf(
      hook(
        '      scheme: hmac\n      secrets: ["s"]\n      hmac: { header: X-Sig, payload: "{nonce}.{body}" }',
      ),
    );
    assert.match(payload!, /routes\[0\]\.webhook\.hmac\.payload: unknown slot \{nonce\}/);
    const [uncovered] = await issuesOf(
      hook('      scheme: hmac\n      secrets: ["s"]\n      hmac: { header: X-Sig, payload: "static" }'),
    );
    assert.match(uncovered!, /must include \{body\}/);
    const [secret] = await issuesOf(hook('      scheme: standard-webhooks\n      secrets: ["whsec_!!"]'));
    assert.match(secret!, /routes\[0\]\.webhook\.secrets: .*whsec_/);
  });

  it('refuses a key template without a slot and delivery values out of range', async () => {
    assert.match(
      (
        await issuesOf(
          hook('      scheme: github\n      secrets: ["s"]\n      delivery: { order_key: "shop" }'),
        )
      )[0]!,
      /routes\[0\]\.webhook\.delivery\.order_key: .*\$\{header\.X-Shop-Id\}/,
    );
    assert.match(
      (
        await issuesOf(hook('      scheme: github\n      secrets: ["s"]\n      delivery: { concurrency: 0 }'))
      )[0]!,
      /delivery\.concurrency/,
    );
  });

  it('refuses a redis store without its url, at the section', async () => {
    const issues = await issuesOf(
      `webhooks:\n  store: { type: redis }\n${hook('      scheme: github\n      secrets: ["s"]')}`,
    );
    assert.deepEqual(issues, ['2: webhooks.store.url: store type redis needs `url: redis://host:port`']);
  });
});

describe('callbacks config', () => {
  const callbacks = (body: string) => `routes:
  - name: events
    match: { path: /internal/events, methods: [POST] }
    callbacks:
${body}
`;

  it('needs no upstream on a callbacks route; any other route still does', async () => {
    assert.deepEqual(
      await issuesOf(
        callbacks(
          '      subscribers:\n        - { name: a, url: "http://127.0.0.1:9/hooks", secrets: ["whsec_dGVzdA=="] }',
        ),
      ),
      [],
    );
    const [missing] = await issuesOf('routes:\n  - name: plain\n    path: /plain\n');
    assert.match(
      missing!,
      /^2: routes\[0\]: missing required key "upstream" .*a route with `callbacks` has none/,
    );
  });

  it('refuses a subscriber listed twice, a URL with a query and a secret that is not whsec_', async () => {
    const sub = (s: string) => callbacks(`      subscribers:\n${s}`);
    assert.deepEqual(
      await issuesOf(
        sub(
          '        - { name: a, url: "http://127.0.0.1:9/a", secrets: ["whsec_dGVzdA=="] }\n' +
            '        - { name: a, url: "http://127.0.0.1:9/b", secrets: ["whsec_dGVzdA=="] }',
        ),
      ),
      ['7: routes[0].callbacks.subscribers[1].name: subscriber "a" is listed twice'],
    );
    assert.match(
      (
        await issuesOf(
          sub('        - { name: a, url: "http://127.0.0.1:9/a?x=1", secrets: ["whsec_dGVzdA=="] }'),
        )
      )[0]!,
      /subscribers\[0\]\.url: .*without a query string/,
    );
    assert.match(
      (await issuesOf(sub('        - { name: a, url: "http://127.0.0.1:9/a", secrets: ["plain"] }')))[0]!,
      /subscribers\[0\]\.secrets\[0\]: .*whsec_/,
    );
  });
});
