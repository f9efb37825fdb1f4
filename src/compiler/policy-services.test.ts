// The promise of the policy contract: a new policy is its definition alone. A probe policy, defined here and
// appended to the registry, uses every service the compile context offers — its own route keys folded in by
// normalizeRoute, a root section, scoped metrics, a named store carried over reloads and closed when unused,
// a throttled log and an admin action — with no change to the compiler, config/ or any other policy. A second
// probe sends requests to another upstream, adds its own access-log member, checks across routes and says
// what it does in `portico routes`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { formatPath } from '../config/config-issue.js';
import { createGatewayMetrics } from '../observability/metrics.js';
import { Writable } from 'node:stream';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { definePolicy, PolicyConfigError, type StoreBackend } from '../pipeline/policy.js';
import { testExchange } from '../pipeline/testing.js';
import { policyRegistry } from '../policies/registry.js';
import { ResourceRegistry } from './carry-over.js';
import { type BuildResult, buildSnapshotFromText } from './compile-gateway.js';

interface ProbeStore {
  readonly backend: StoreBackend['kind'];
  readonly id: number;
  closed: boolean;
  close(): void;
}

function probeKit() {
  let opened = 0;
  const stores: ProbeStore[] = [];
  const probe = definePolicy({
    name: 'probe',
    phase: 'transform',
    summary: 'Test probe.',
    schema: Type.Object({ greeting: Type.String() }, { additionalProperties: false }),
    sections: { probe_settings: Type.Object({ size: Type.Integer({ default: 3 }) }, { default: {} }) },
    adminPaths: [{ path: '/probe/poke', method: 'POST' }],
    routeKeys: { probe_short: Type.Optional(Type.String()) },
    normalizeRoute(route, ctx) {
      const short = route['probe_short'];
      if (short === undefined) return route;
      if (route['probe'] !== undefined) ctx.error(['probe_short'], 'probe_short contradicts probe:');
      return { ...route, probe: { greeting: short } };
    },
    create(config, ctx) {
      if (config.greeting === '') throw new PolicyConfigError('an empty greeting', ['greeting']);
      const size = (ctx.section('probe_settings') as { size: number }).size;
      const { store } = ctx.store(
        'things',
        (backend): ProbeStore => {
          const s: ProbeStore = {
            backend: backend.kind,
            id: ++opened,
            closed: false,
            close: () => void (s.closed = true),
          };
          stores.push(s);
          return s;
        },
        { settings: { size } },
      );
      const greeted = ctx.metrics
        .counter('greetings_total', 'Greetings, by route.', ['route'])
        .series({ route: ctx.routeName });
      const warn = ctx.throttledLog(60_000);
      ctx.admin({
        path: '/probe/poke',
        method: 'POST',
        handle: () => Promise.resolve({ status: 200, body: { store: store.id } }),
      });
      return {
        onRequest(ex) {
          greeted.inc();
          warn.warn({ event: 'probe_greeting', route: ctx.routeName }, config.greeting);
          ex.headers.set('x-greeting', config.greeting);
        },
      };
    },
  });
  return { probe, stores };
}

function yaml(size: number, routes: string): string {
  return `
gateway: { metrics: { enabled: true } }
probe_settings: { size: ${size} }
routes:
${routes}`;
}

const ROUTES = `
  - { name: a, path: /a, upstream: "http://127.0.0.1:9", probe_short: hello }
  - { name: b, path: /b, upstream: "http://127.0.0.1:9", probe: { greeting: hi } }
  - { name: c, path: /c, upstream: "http://127.0.0.1:9" }`;

function ok(r: BuildResult) {
  assert.ok(r.ok, r.ok ? '' : r.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('\n'));
  return r.snapshot;
}

describe('a policy known by its own folder alone', () => {
  it('gets its route keys, section, scoped metrics, store, admin action through the compile context', async () => {
    const kit = probeKit();
    const registry = [...policyRegistry, kit.probe] as typeof policyRegistry;
    const resources = new ResourceRegistry();
    const metrics = createGatewayMetrics({ inflight: () => 0, defaultMetrics: false });
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const eventLogger = pino({ level: 'info' }, sink);
    const deps = { registry, resources, env: {}, accessLogger: undefined, eventLogger, metrics };

    const first = ok(buildSnapshotFromText(yaml(3, ROUTES), 'gateway.yaml', deps));
    resources.retain(first.resources);
    // normalizeRoute turned route a's short form into the policy key; route c has no probe.
    const names = (route: string) => first.routes.find((r) => r.name === route)?.policyNames ?? [];
    assert.ok(names('a').includes('probe'));
    assert.ok(names('b').includes('probe'));
    assert.ok(!names('c').includes('probe'));
    // One store for every route, on the memory backend (this build does not serve).
    assert.equal(kit.stores.length, 1);
    assert.equal(kit.stores[0]!.backend, 'memory');
    // Metrics are named after the policy; the throttled log writes one line for two requests.
    const probeOf = (route: string) => {
      const r = first.routes.find((x) => x.name === route)!;
      return r.policies[r.policyNames.indexOf('probe')]!;
    };
    for (let i = 0; i < 2; i++) await probeOf('a').onRequest?.(testExchange([]));
    assert.match(await metrics.registry.metrics(), /portico_probe_greetings_total\{route="a"\} 2/);
    await new Promise((resolve) => setImmediate(resolve));
    const greetings = lines.filter((l) => l['event'] === 'probe_greeting');
    assert.deepEqual(
      greetings.map((l) => [l['route'], l['suppressed'], l['msg']]),
      [['a', 0, 'hello']],
    );
    // The admin path is served by the action a route registered.
    const entry = first.admin.get('/probe/poke');
    assert.equal(entry?.policy, 'probe');
    assert.deepEqual(await entry?.action?.handle({ body: undefined, query: new URLSearchParams() }), {
      status: 200,
      body: { store: 1 },
    });

    // A reload with the same settings keeps the store; a change of them opens a new one, and the old one
    // closes once no live snapshot uses it.
    const same = ok(buildSnapshotFromText(yaml(3, ROUTES), 'gateway.yaml', deps));
    resources.retain(same.resources);
    await resources.release(first.resources);
    assert.equal(kit.stores.length, 1);
    assert.equal(kit.stores[0]!.closed, false);
    const changed = ok(buildSnapshotFromText(yaml(4, ROUTES), 'gateway.yaml', deps));
    resources.retain(changed.resources);
    await resources.release(same.resources);
    assert.equal(kit.stores.length, 2);
    assert.equal(kit.stores[0]!.closed, true);
    assert.equal(kit.stores[1]!.closed, false);

    // Without a route using the policy, its admin path is known but has no action.
    const none = ok(
      buildSnapshotFromText(
        yaml(
          4,
          ROUTES.split('\n').slice(0, 1).join('\n') +
            `
  - { name: c, path: /c, upstream: "http://127.0.0.1:9" }`,
        ),
        'gateway.yaml',
        deps,
      ),
    );
    resources.retain(none.resources);
    await resources.release(changed.resources);
    assert.equal(none.admin.get('/probe/poke')?.action, undefined);
    assert.equal(kit.stores[1]!.closed, true);
    await resources.release(none.resources);
  });

  it('reports its config mistakes at their lines, through the same paths as built-in policies', () => {
    const kit = probeKit();
    const registry = [...policyRegistry, kit.probe] as typeof policyRegistry;
    const deps = {
      registry,
      resources: new ResourceRegistry(),
      env: {},
      accessLogger: undefined,
      eventLogger: undefined,
    };
    const r = buildSnapshotFromText(
      yaml(
        3,
        `
  - { name: a, path: /a, upstream: "http://127.0.0.1:9", probe_short: x, probe: { greeting: y } }
  - { name: b, path: /b, upstream: "http://127.0.0.1:9", probe: { greeting: "" } }`,
      ),
      'gateway.yaml',
      deps,
    );
    assert.equal(r.ok, false);
    const issues = r.issues.filter((i) => i.severity === 'error').map((i) => [formatPath(i.path), i.line]);
    assert.deepEqual(issues, [
      ['routes[0].probe_short', 6],
      ['routes[1].probe.greeting', 7],
    ]);
    // Its schema is the config schema: an unknown key is found by validation, with its line.
    const typo = buildSnapshotFromText(
      yaml(
        3,
        `
  - { name: c, path: /c, upstream: "http://127.0.0.1:9", probe: { greting: y } }`,
      ),
      'gateway.yaml',
      deps,
    );
    assert.equal(typo.ok, false);
    assert.deepEqual(
      typo.issues.filter((i) => i.severity === 'error').map((i) => [formatPath(i.path), i.line]),
      [['routes[0].probe.greting', 6]],
    );
  });
});

describe('a policy that sends requests elsewhere, by its own folder alone', () => {
  // A detour policy: sends a route's requests to another upstream, logs its own access-log member, checks
  // across routes that the path it names is served, and says what it does in `portico routes`.
  const detour = definePolicy({
    name: 'detour',
    phase: 'receive',
    summary: 'Test probe: another upstream.',
    schema: Type.Object({ to: Type.String(), see: Type.String() }, { additionalProperties: false }),
    checkRoutes(ctx) {
      ctx.routes.forEach((route, index) => {
        const d = route['detour'] as { see: string } | undefined;
        if (d !== undefined && ctx.routeFor(d.see) === undefined)
          ctx.error(index, ['detour', 'see'], `${d.see} is served by no route`);
      });
    },
    create(config, ctx) {
      const other = ctx.upstream(config.to);
      return {
        onRequest(ex) {
          ex.forwardTo = other.forward;
          ex.logField('detour', other.name);
        },
        describe: () => `to ${other.label}`,
      };
    },
  });
  const registry = [...policyRegistry, detour] as typeof policyRegistry;
  const text = (see: string, to = 'elsewhere') => `
upstreams:
  elsewhere: { targets: [{ url: "http://127.0.0.1:7" }] }
routes:
  - { name: a, path: /a, upstream: "http://127.0.0.1:9", detour: { to: ${to}, see: ${see} } }
  - { name: b, path: /b, upstream: "http://127.0.0.1:9" }`;

  it('gets another upstream, sets the forward and its log member, and describes itself', async () => {
    const resources = new ResourceRegistry();
    const deps = { registry, resources, env: {}, accessLogger: undefined, eventLogger: undefined };
    const snap = ok(buildSnapshotFromText(text('/b'), 'gateway.yaml', deps));
    try {
      const a = snap.routes.find((r) => r.name === 'a')!;
      assert.deepEqual(a.otherUpstreams, ['elsewhere']);
      assert.equal(a.policies.map((p) => p.describe?.(0)).find(Boolean), 'to elsewhere (1 target)');
      const ex = testExchange([]);
      for (const step of a.pipeline.request) void step.policy.onRequest!(ex);
      assert.equal(typeof ex.forwardTo, 'function');
      assert.equal(ex.logFields, ',"detour":"elsewhere"');
      assert.ok(snap.upstreams.has('elsewhere'), 'the admin view lists the upstream too');
    } finally {
      await resources.release(snap.resources, false);
    }
  });

  it('reports across routes and an unknown upstream at their lines', () => {
    const deps = {
      registry,
      resources: new ResourceRegistry(),
      env: {},
      accessLogger: undefined,
      eventLogger: undefined,
    };
    const unserved = buildSnapshotFromText(text('/c'), 'gateway.yaml', deps);
    assert.equal(unserved.ok, false);
    assert.deepEqual(
      unserved.issues.map((i) => [formatPath(i.path), i.line, i.message]),
      [['routes[0].detour.see', 5, '/c is served by no route']],
    );
    const unknown = buildSnapshotFromText(text('/b', 'elsewher'), 'gateway.yaml', deps);
    assert.equal(unknown.ok, false);
    assert.match(
      unknown.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('\n'),
      /^routes\[0\]\.detour: no upstream named "elsewher" — did you mean "elsewhere"\?/,
    );
  });
});

describe('a policy that works in the background and answers by itself, by its own folder alone', () => {
  // An outbox probe: no upstream of its own (it answers every request), sends requests it makes itself to
  // a real server (`send`), and starts its background work only once a snapshot holding it is live.
  const started: string[] = [];
  const outbox = definePolicy({
    name: 'outbox',
    phase: 'receive',
    summary: 'Test probe: background sends.',
    answersAll: true,
    schema: Type.Object({ to: Type.String() }, { additionalProperties: false }),
    create(config, ctx) {
      const target = ctx.upstream(config.to);
      const serving = ctx.serving;
      const sent = ctx.carryOver(
        `outbox:${ctx.routeName}`,
        () => ({ answers: [] as number[] }),
        undefined,
        (s) => {
          started.push(ctx.routeName);
          void target
            .send({
              method: 'POST',
              path: '/',
              upstreamPath: '/inbox',
              headers: ['x-probe', '1'],
              body: Buffer.from('hi'),
              timeoutMs: 5000,
            })
            .then((a) => s.answers.push(a.status));
        },
      );
      return {
        onRequest: () =>
          Promise.reject(new Error(`answered by the probe; serving=${serving}; ${sent.answers.length}`)),
      };
    },
  });
  const registry = [...policyRegistry, outbox] as typeof policyRegistry;

  it('loads without an upstream, sends once live, and never starts for a failed build', async () => {
    const received: Array<[string, string, string]> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push([req.url!, String(req.headers['x-probe']), body]);
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const text = (extra = '') =>
      `routes:\n  - { name: o, path: /o, outbox: { to: "http://127.0.0.1:${port}/base" } }\n${extra}`;
    const resources = new ResourceRegistry();
    const deps = { registry, resources, env: {}, accessLogger: undefined, eventLogger: undefined };
    try {
      const failed = buildSnapshotFromText(text('  - { name: bad, path: /bad }'), 'gateway.yaml', deps);
      assert.equal(failed.ok, false);
      assert.match(
        failed.issues.map((i) => i.message).join('\n'),
        /missing required key "upstream" \(.*a route with `callbacks` or `outbox` has none\)/,
      );
      assert.deepEqual(started, [], 'a failed build starts nothing');
      const snap = ok(buildSnapshotFromText(text(), 'gateway.yaml', deps));
      assert.deepEqual(started, []);
      resources.retain(snap.resources);
      assert.deepEqual(started, ['o'], 'started once the snapshot is live');
      for (let i = 0; i < 500 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(received, [['/base/inbox', '1', 'hi']]);
      const route = snap.routes.find((r) => r.name === 'o')!;
      assert.equal(route.upstreamLabel, '(none: outbox answers)');
      await assert.rejects(
        Promise.resolve(route.policies[route.policyNames.indexOf('outbox')]!.onRequest!(testExchange([]))),
        /serving=false/,
        'validate-style builds are not serving',
      );
      await resources.release(snap.resources);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
