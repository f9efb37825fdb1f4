// A reload compiles only what changed (issue 17 point 5): a route whose config and everything its compile
// read (gateway settings, `defaults:`, its named upstream, the root sections its policies read, its carry-over
// resources) are unchanged is the very CompiledRoute of the last build; anything else compiles again. The
// probe policy below counts its instances, reads a section, holds a store, registers an admin action and
// has a close() that must run once, when the last snapshot holding it is retired.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { formatPath } from '../config/config-issue.js';
import { definePolicy } from '../pipeline/policy.js';
import { policyRegistry } from '../policies/registry.js';
import { SnapshotHolder } from '../runtime/snapshot-holder.js';
import { ResourceRegistry } from './carry-over.js';
import { type BuildResult, buildSnapshotFromText, buildSnapshotFromTextAsync } from './compile-gateway.js';
import type { CompiledRoute, GatewaySnapshot } from './snapshot.js';

function probeKit() {
  const created: string[] = [];
  const closed: string[] = [];
  const stores: { id: number; closed: boolean }[] = [];
  const hooks: { afterRoutes?: () => void } = {};
  const probe = definePolicy({
    name: 'probe',
    phase: 'transform',
    summary: 'Test probe.',
    schema: Type.Object({ greeting: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    sections: { probe_settings: Type.Object({ size: Type.Integer({ default: 3 }) }, { default: {} }) },
    adminPaths: [{ path: '/probe/poke', method: 'POST' }],
    // Asked for once per build, after the routes compiled: lets a test act at that point.
    endpoints() {
      hooks.afterRoutes?.();
      return [];
    },
    create(config, ctx) {
      const size = (ctx.section('probe_settings') as { size: number }).size;
      const { store } = ctx.store(
        'things',
        () => {
          const s = { id: stores.length + 1, closed: false, close: () => void (s.closed = true) };
          stores.push(s);
          return s;
        },
        { settings: { size } },
      );
      ctx.admin({
        path: '/probe/poke',
        method: 'POST',
        handle: () => Promise.resolve({ status: 200, body: { store: store.id } }),
      });
      const id = `${ctx.routeName}:${config.greeting}:${size}`;
      created.push(id);
      return { close: () => void closed.push(id) };
    },
  });
  const registry = [...policyRegistry, probe] as typeof policyRegistry;
  const deps = {
    registry,
    resources: new ResourceRegistry(),
    env: {},
    accessLogger: undefined,
    eventLogger: undefined,
  };
  return { created, closed, stores, deps, hooks };
}

interface Shape {
  readonly size?: number;
  readonly greetingB?: string;
  readonly u1?: string;
  readonly gateway?: string;
  readonly defaults?: string;
  readonly first?: string;
}

/** Routes a (probe, upstream u1), b (probe, u2), c (no policy, a URL). */
function yaml(s: Shape = {}): string {
  return [
    `gateway: { ${s.gateway ?? ''} }`,
    `defaults: { ${s.defaults ?? ''} }`,
    `probe_settings: { size: ${s.size ?? 3} }`,
    'upstreams:',
    `  u1: { targets: [{ url: "${s.u1 ?? 'http://127.0.0.1:1'}" }] }`,
    '  u2: { targets: [{ url: "http://127.0.0.1:2" }] }',
    'routes:',
    ...(s.first !== undefined ? [s.first] : []),
    '  - name: a',
    '    path: /a',
    '    upstream: u1',
    '    probe: { greeting: hello }',
    '  - name: b',
    '    path: /b',
    '    upstream: u2',
    `    probe: { greeting: "${s.greetingB ?? 'hi'}" }`,
    '  - name: c',
    '    path: /c',
    '    upstream: "http://127.0.0.1:3"',
    '',
  ].join('\n');
}

function ok(r: BuildResult): GatewaySnapshot {
  assert.ok(r.ok, r.ok ? '' : r.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('\n'));
  return r.snapshot;
}

function route(s: GatewaySnapshot, name: string): CompiledRoute {
  const r = s.routes.find((x) => x.name === name);
  assert.ok(r, `route ${name}`);
  return r;
}

/** Which of a, b, c the second snapshot reused (the very same pipeline) from the first. */
function reused(first: GatewaySnapshot, second: GatewaySnapshot): string[] {
  return ['a', 'b', 'c'].filter((n) => route(first, n).pipeline === route(second, n).pipeline);
}

describe('reusing compiled routes across builds', () => {
  it('compiles a changed route again and reuses the unchanged ones as they are', () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    assert.deepEqual(kit.created, ['a:hello:3', 'b:hi:3']);
    const second = ok(buildSnapshotFromText(yaml({ greetingB: 'hey' }), 'gateway.yaml', kit.deps));
    assert.deepEqual(reused(first, second), ['a', 'c']);
    assert.equal(route(second, 'a'), route(first, 'a'));
    assert.deepEqual(kit.created, ['a:hello:3', 'b:hi:3', 'b:hey:3'], 'only b was created again');
    // What a route's compile did besides returning it is there for a reused one too.
    assert.ok(second.admin.get('/probe/poke')?.action, 'the admin action is registered');
    assert.deepEqual([...second.upstreams.keys()].sort(), ['u1', 'u2']);
    assert.equal(second.upstreams.get('u1'), first.upstreams.get('u1'));
  });

  it('reuses a route that only moved (a route inserted above), with its new index', () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    const text = yaml({ first: '  - { name: z, path: /z, upstream: u2 }' });
    const second = ok(buildSnapshotFromText(text, 'gateway.yaml', kit.deps));
    assert.deepEqual(reused(first, second), ['a', 'b', 'c']);
    assert.deepEqual(
      second.routes.filter((r) => r.index >= 0).map((r) => [r.name, r.index]),
      [
        ['z', 0],
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ],
    );
    assert.equal(kit.created.length, 2);
  });

  it('compiles again the routes using a named upstream that changed, and only them', () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    const second = ok(buildSnapshotFromText(yaml({ u1: 'http://127.0.0.1:4' }), 'gateway.yaml', kit.deps));
    assert.deepEqual(reused(first, second), ['b', 'c']);
    assert.notEqual(second.upstreams.get('u1'), first.upstreams.get('u1'));
    assert.equal(second.upstreams.get('u1')!.endpoints[0]!.origin, 'http://127.0.0.1:4');
  });

  it('compiles again, every time, a route whose policies send requests to other upstreams (their settings are not compared)', () => {
    const kit = probeKit();
    const d =
      '  - { name: d, path: /d, upstream: u2, split: [{ upstream: u1, weight: 1 }, { upstream: u2, weight: 1 }] }';
    const first = ok(buildSnapshotFromText(yaml({ first: d }), 'gateway.yaml', kit.deps));
    const second = ok(
      buildSnapshotFromText(yaml({ first: d, u1: 'http://127.0.0.1:4' }), 'gateway.yaml', kit.deps),
    );
    assert.notEqual(route(first, 'd').pipeline, route(second, 'd').pipeline);
    assert.deepEqual(route(second, 'd').otherUpstreams, ['u1', 'u2']);
    assert.equal(second.upstreams.get('u1')!.endpoints[0]!.origin, 'http://127.0.0.1:4');
    assert.deepEqual(reused(first, second), ['b', 'c']);
  });

  it('compiles again the routes whose policies read a root section that changed, and only them', () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    const second = ok(buildSnapshotFromText(yaml({ size: 5 }), 'gateway.yaml', kit.deps));
    assert.deepEqual(reused(first, second), ['c']);
    assert.deepEqual(kit.created.slice(2), ['a:hello:5', 'b:hi:5']);
  });

  it('compiles every route again when a gateway setting or default routes read changes; not for one they do not', () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    const logLevel = ok(
      buildSnapshotFromText(yaml({ gateway: 'log_level: debug' }), 'gateway.yaml', kit.deps),
    );
    assert.deepEqual(reused(first, logLevel), ['a', 'b', 'c'], 'the log level is no route setting');
    for (const shape of [
      { gateway: 'limits: { max_body_bytes: 1024 }' },
      { gateway: 'tracing_header: X-Other' },
      { gateway: 'access_log: { enabled: false }' },
      { defaults: 'timeout_ms: 1234' },
    ]) {
      const changed = ok(buildSnapshotFromText(yaml(shape), 'gateway.yaml', kit.deps));
      assert.deepEqual(reused(first, changed), [], JSON.stringify(shape));
    }
  });

  it('a failed build changes nothing: the next one reuses the last good build', () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    const failed = buildSnapshotFromText(yaml({ greetingB: '' }), 'gateway.yaml', kit.deps);
    assert.equal(failed.ok, false);
    const issue = failed.issues.find((i) => i.severity === 'error');
    assert.deepEqual([issue?.line, formatPath(issue?.path ?? [])], [15, 'routes[1].probe.greeting']);
    const again = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    assert.deepEqual(reused(first, again), ['a', 'b', 'c']);
  });

  it('keeps a reused route’s policies and store open until the last snapshot holding them is retired', async () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    const holder = new SnapshotHolder(first, kit.deps.resources);
    const second = ok(buildSnapshotFromText(yaml({ greetingB: 'hey' }), 'gateway.yaml', kit.deps));
    holder.swap(second);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(kit.closed, ['b:hi:3'], 'only the policy no snapshot uses any more');
    assert.deepEqual(
      kit.stores.map((s) => s.closed),
      [false],
    );
    await holder.close();
    assert.deepEqual(kit.closed.sort(), ['a:hello:3', 'b:hey:3', 'b:hi:3']);
    assert.deepEqual(
      kit.stores.map((s) => s.closed),
      [true],
    );
    assert.equal(kit.deps.resources.size, 0, 'every resource closed');
  });
});

describe('a build in slices (reloads)', () => {
  const big = (n: number, greeting: string) =>
    [
      'routes:',
      ...Array.from({ length: n }, (_, i) =>
        i === n >> 1
          ? `  - { name: r${i}, path: /r${i}, upstream: "http://127.0.0.1:1", probe: { greeting: ${greeting} } }`
          : `  - { name: r${i}, path: /r${i}, upstream: "http://127.0.0.1:1" }`,
      ),
      '',
    ].join('\n');

  it('builds what the one-piece build builds, letting other callbacks run in between, and reuses routes', async () => {
    const kit = probeKit();
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const first = ok(await buildSnapshotFromTextAsync(big(2000, 'one'), 'gateway.yaml', kit.deps, 1));
    running = false;
    assert.ok(ticks > 5, `${ticks} other callbacks ran while it built`);
    const sync = ok(buildSnapshotFromText(big(2000, 'one'), 'gateway.yaml', probeKit().deps));
    assert.deepEqual(
      first.routes.map((r) => [r.name, r.index, r.policyNames]),
      sync.routes.map((r) => [r.name, r.index, r.policyNames]),
    );
    assert.deepEqual(
      first.router.precedence.map((s) => s.name),
      sync.router.precedence.map((s) => s.name),
    );
    assert.equal(first.hash, sync.hash);
    const second = ok(await buildSnapshotFromTextAsync(big(2000, 'two'), 'gateway.yaml', kit.deps, 1));
    const changed = second.routes
      .filter((r, i) => r.pipeline !== first.routes[i]!.pipeline)
      .map((r) => r.name);
    assert.deepEqual(changed, ['r1000']);
    assert.deepEqual(kit.created, ['r1000:one:3', 'r1000:two:3']);
  });

  it('reports every issue with its line, as the one-piece build does', async () => {
    const kit = probeKit();
    const text = big(300, '""').replace('path: /r7,', 'path: r7,');
    const sliced = await buildSnapshotFromTextAsync(text, 'gateway.yaml', kit.deps, 1);
    const whole = buildSnapshotFromText(text, 'gateway.yaml', probeKit().deps);
    assert.equal(sliced.ok, false);
    assert.deepEqual(sliced.issues, whole.issues);
    assert.deepEqual(
      sliced.issues.map((i) => [i.line, formatPath(i.path)]),
      [
        [9, 'routes[7].path'],
        [152, 'routes[150].probe.greeting'],
      ],
    );
  });

  it('builds again when a resource it took was closed while it yielded', async () => {
    const kit = probeKit();
    const first = ok(buildSnapshotFromText(yaml(), 'gateway.yaml', kit.deps));
    kit.deps.resources.retain(first.resources);
    // Once the routes are built (route a reused, holding store 1), the only snapshot holding store 1 is retired.
    kit.hooks.afterRoutes = () => {
      kit.hooks.afterRoutes = undefined;
      setImmediate(() => void kit.deps.resources.release(first.resources));
    };
    const second = ok(
      await buildSnapshotFromTextAsync(yaml({ greetingB: 'hey' }), 'gateway.yaml', kit.deps, 0),
    );
    assert.deepEqual(
      kit.stores.map((s) => s.closed),
      [true, false],
    );
    assert.ok(second.resources.intact());
    // b compiled, a reused (store 1 taken), store 1 closed: built again, a and b with store 2.
    assert.deepEqual(kit.created, ['a:hello:3', 'b:hi:3', 'b:hey:3', 'a:hello:3', 'b:hey:3']);
    await kit.deps.resources.release(second.resources, false);
    assert.equal(kit.deps.resources.size, 0);
  });
});
