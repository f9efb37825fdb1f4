// `version:` mistakes are refused at load (validate, serve, reload) with the line of the key at fault: a
// sunset before the deprecation, a successor no route serves, a version's unknown upstream, a default that is
// not a version, versions without `from`, a media type without vendor, a redirect a header cannot follow.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatPath } from '../../config/config-issue.js';
import { policyRegistry } from '../registry.js';
import { ResourceRegistry } from '../../compiler/carry-over.js';
import { buildSnapshotFromText } from '../../compiler/compile-gateway.js';

async function issuesOf(routes: string): Promise<string[]> {
  const resources = new ResourceRegistry();
  const text = `upstreams:\n  v1: { targets: [{ url: "http://127.0.0.1:9" }] }\nroutes:\n${routes}`;
  const result = buildSnapshotFromText(text, 'gateway.yaml', {
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

const route = (version: string) => `  - name: orders
    path: /orders
    upstream: "http://127.0.0.1:9"
    version:
${version}
  - name: orders-v2
    path: /v2/orders
    upstream: "http://127.0.0.1:9"
`;

describe('version config', () => {
  it('accepts the brief form (a lifecycle on a route) and a route serving versions', async () => {
    assert.deepEqual(
      await issuesOf(
        route(`      deprecated_at: "2026-06-01T00:00:00Z"
      sunset_at: "2027-01-01T00:00:00Z"
      successor: /v2/orders`),
      ),
      [],
    );
    assert.deepEqual(
      await issuesOf(
        route(`      from: header
      default: "2"
      versions: { "1": { upstream: v1, successor: "2" }, "2": {} }`),
      ),
      [],
    );
  });

  it('tells `portico routes` how versions are chosen, each lifecycle state and the next brownout', async () => {
    const resources = new ResourceRegistry();
    const result = buildSnapshotFromText(
      `upstreams:\n  v1: { targets: [{ url: "http://127.0.0.1:9" }] }\nroutes:\n` +
        route(`      from: header
      default: "2"
      versions:
        "1":
          upstream: v1
          deprecated_at: "2026-06-01T00:00:00Z"
          sunset_at: "2027-01-01T00:00:00Z"
          brownouts: { from: "2026-12-01T12:00:00Z", every_h: 168, duration_m: 60 }
        "2": {}`),
      'gateway.yaml',
      { registry: policyRegistry, resources, env: {}, accessLogger: undefined, eventLogger: undefined },
    );
    assert.ok(result.ok);
    try {
      const orders = result.snapshot.routes.find((r) => r.name === 'orders')!;
      const status = orders.policies
        .map((p) => p.describe?.(Date.parse('2026-12-06T00:00:00Z')))
        .filter(Boolean);
      assert.deepEqual(status, [
        'versions 1,2 by the Accept-Version header (default 2); 1: deprecated, sunset 2027-01-01T00:00:00Z, next brownout 2026-12-08T12:00:00Z for 60 min',
      ]);
    } finally {
      await resources.release(result.snapshot.resources, false);
    }
  });

  it('refuses a sunset before the deprecation, at the sunset_at line', async () => {
    const issues = await issuesOf(
      route(`      deprecated_at: "2027-06-01T00:00:00Z"
      sunset_at: "2027-01-01T00:00:00Z"`),
    );
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^9: routes\[0\]\.version\.sunset_at: sunset_at .* is before deprecated_at/);
  });

  it('refuses a successor path no route serves', async () => {
    const issues = await issuesOf(route(`      successor: /v3/orders`));
    assert.deepEqual(issues, ['8: routes[0].version.successor: successor /v3/orders is served by no route']);
  });

  it("refuses a version's unknown upstream, naming the ones defined", async () => {
    const issues = await issuesOf(
      route(`      from: query
      versions: { "1": { upstream: v9 }, "2": {} }`),
    );
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^9: routes\[0\]\.version\.versions\["1"\]\.upstream: no upstream named "v9"/);
  });

  it('refuses a default that is not a version, versions without from, a media type without vendor', async () => {
    assert.match(
      (
        await issuesOf(route(`      from: header\n      default: "3"\n      versions: { "1": {}, "2": {} }`))
      )[0]!,
      /^9: routes\[0\]\.version\.default: default version "3" is not one of the versions \(1, 2\)/,
    );
    assert.match(
      (await issuesOf(route(`      versions: { "1": {} }`)))[0]!,
      /^8: routes\[0\]\.version\.from: versions need `from`/,
    );
    assert.match(
      (await issuesOf(route(`      from: media_type\n      versions: { "1": {} }`)))[0]!,
      /routes\[0\]\.version\.vendor: .*needs `vendor`/,
    );
  });

  it('refuses a redirect to a version a header names (a header cannot be redirected)', async () => {
    const issues = await issuesOf(
      route(`      from: header
      versions:
        "1": { sunset_at: "2026-01-01T00:00:00Z", successor: "2", after_sunset: redirect }
        "2": {}`),
    );
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /versions\["1"\]\.after_sunset: .*needs from: path or query/);
  });
});
