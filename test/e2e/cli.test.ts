// The `portico` command line as a child process: --version/--help, validate, routes, serve refusing to start,
// and the `npm start` path (demo) serving the demo services and exiting 0 on SIGTERM.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import {
  CLI_SUITE_TIMEOUT_MS,
  REPO_ROOT,
  runCli,
  spawnCli,
  tempDir,
  waitForServe,
  type CliChild,
} from '../fixtures/ops-child.js';

const INVALID = 'test/fixtures/ops-invalid.yaml';
const VALID = 'test/fixtures/ops-valid.yaml';
const ROUTES = 'test/fixtures/ops-routes.yaml';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

describe('portico CLI: help and version', { concurrency: 2, timeout: CLI_SUITE_TIMEOUT_MS }, () => {
  it('--version and -v print "portico <package.json version>"', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `portico ${pkg.version}\n`);
      assert.equal(r.stderr, '');
    }
  });

  it('--help lists every command and exits 0; no command at all prints the same help and exits 1', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const cmd of ['serve', 'validate', 'routes', 'demo'])
      assert.match(help.stdout, new RegExp(`^  ${cmd} +\\S`, 'm'), `--help lists ${cmd}`);
    assert.match(help.stdout, /--version/);
    const bare = await runCli([]);
    assert.equal(bare.code, 1);
    assert.equal(bare.stdout, help.stdout);
  });

  it('`validate --help` and `help validate` print the validate usage and exit 0', async () => {
    for (const args of [
      ['validate', '--help'],
      ['help', 'validate'],
      ['validate', '-h'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /^Usage: portico validate FILE/, args.join(' '));
      assert.match(r.stdout, /file:line:column/);
    }
  });

  it('an unknown command exits 2 with a message and the help on stderr', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /unknown command "frobnicate"/);
    assert.match(r.stderr, /Usage: portico <command>/);
  });
});

describe('portico validate and routes', { concurrency: 2, timeout: CLI_SUITE_TIMEOUT_MS }, () => {
  it('validate exits 0 and says "valid (N routes)" for a valid file', async () => {
    const r = await runCli(['validate', VALID]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${VALID}: valid (2 routes)\n`);
    assert.equal(r.stderr, '');
  });

  it('validate exits 1 and prints every error as file:line:col key.path: message', async () => {
    const r = await runCli(['validate', INVALID]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], '4 errors in configuration');
    const issues = lines.slice(1).map((l) => l.trim());
    assert.equal(issues.length, 4, r.stderr);
    for (const l of issues)
      assert.match(l, new RegExp(`^${INVALID.replace(/\./g, '\\.')}:\\d+:\\d+ \\S+: .+`), l);
    const find = (path: string) => issues.find((l) => l.includes(` ${path}: `));
    assert.match(find('gateway.shutdown_timeout_ms') ?? '', /\.yaml:5:24 .*-5/);
    assert.match(find('routes[0].timeout_ms') ?? '', /\.yaml:10:17 .*"fast"/);
    assert.match(find('routes[1].path_prefix') ?? '', /\.yaml:12:18 .*"users"/);
    assert.match(find('routes[1].colour') ?? '', /\.yaml:14:5 .*unknown key "colour"/);
  });

  it('validate exits 1 for a file that does not exist', async () => {
    const r = await runCli(['validate', 'test/fixtures/ops-does-not-exist.yaml']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ops-does-not-exist\.yaml .*cannot read the file: ENOENT/);
  });

  it('routes prints the table in precedence order: priority, exact literal, exact :param, prefix', async () => {
    const r = await runCli(['routes', ROUTES]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(
      lines[0] ?? '',
      /^order +name +match +methods +host +conditions +priority +upstream +policies +status$/,
    );
    assert.match(lines[1] ?? '', /^-+( +-+)+$/);
    const rows = lines.slice(2).map((l) => l.split(/\s{2,}/));
    assert.deepEqual(
      rows.map((cols) => cols.slice(0, 3)),
      [
        ['1', 'catch-all', '/*'],
        ['2', 'orders-summary', '=/orders/summary'],
        ['3', 'order-by-id', '=/orders/:id'],
        ['4', 'orders', '/orders/*'],
      ],
    );
    assert.match(lines[2] ?? '', /header x-canary=true +10 +http:\/\/127\.0\.0\.1:4002/);
  });

  it('routes --json prints the same order as parseable JSON', async () => {
    const r = await runCli(['routes', ROUTES, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { order: number; name: string; match: string; priority: number }[];
    assert.deepEqual(
      rows.map((x) => [x.order, x.name, x.match, x.priority]),
      [
        [1, 'catch-all', '/*', 10],
        [2, 'orders-summary', '=/orders/summary', 0],
        [3, 'order-by-id', '=/orders/:id', 0],
        [4, 'orders', '/orders/*', 0],
      ],
    );
  });

  it('routes exits 1 with the errors for an invalid file', async () => {
    const r = await runCli(['routes', INVALID]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /ops-invalid\.yaml:12:18 routes\[1\]\.path_prefix: /);
  });
});

describe('portico routes shows the methods the gateway answers', { timeout: 60_000 }, () => {
  // One config, read by `portico routes` and served by a real gateway: the methods column must be what a
  // 405's Allow header says (HEAD wherever GET is), whatever order the file lists them in.
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`
routes:
  - name: orders
    path_prefix: /orders
    match: { methods: [POST, GET] }
    upstream: ${up.url}
  - name: reports
    path_prefix: /reports
    match: { methods: [DELETE, PUT] }
    upstream: ${up.url}
  - name: explicit-head
    path_prefix: /status
    match: { methods: [HEAD, GET] }
    upstream: ${up.url}
  - name: anything
    path_prefix: /anything
    upstream: ${up.url}
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  const allowOf = async (path: string): Promise<string | null> => {
    const res = await fetch(`${gw.url}${path}`, { method: 'PATCH' });
    await res.body?.cancel();
    return res.status === 405 ? res.headers.get('allow') : null;
  };

  it('--json gives methods as an array equal to the Allow of a 405, null for a route without a method list', async () => {
    const r = await runCli(['routes', gw.configFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { name: string; methods: string[] | null }[];
    const methods: Record<string, string[] | null> = {
      orders: ['GET', 'HEAD', 'POST'],
      reports: ['DELETE', 'PUT'],
      'explicit-head': ['GET', 'HEAD'],
      anything: null,
    };
    assert.deepEqual(Object.fromEntries(rows.map((x) => [x.name, x.methods])), methods);
    const paths: Record<string, string> = {
      orders: '/orders',
      reports: '/reports',
      'explicit-head': '/status',
    };
    for (const [name, path] of Object.entries(paths))
      assert.equal(await allowOf(path), methods[name]!.join(', '), `${name}: Allow of a 405 on ${path}`);
    assert.equal(await allowOf('/anything'), null, 'a route without a method list answers any method');
    // Every method listed is answered, HEAD included.
    for (const m of methods.orders!) {
      const res = await fetch(`${gw.url}/orders`, { method: m, ...(m === 'POST' ? { body: 'x' } : {}) });
      await res.body?.cancel();
      assert.equal(res.status, 200, `${m} /orders`);
    }
  });

  it('the table shows the same methods, comma-separated, and * for any method', async () => {
    const r = await runCli(['routes', gw.configFile]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout
      .trimEnd()
      .split('\n')
      .slice(2)
      .map((l) => l.split(/\s{2,}/));
    const methods = Object.fromEntries(rows.map((cols) => [cols[1], cols[3]]));
    assert.deepEqual(methods, {
      orders: 'GET,HEAD,POST',
      reports: 'DELETE,PUT',
      'explicit-head': 'GET,HEAD',
      anything: '*',
    });
    assert.equal(await allowOf('/orders'), methods.orders!.split(',').join(', '));
  });
});

describe('portico serve refusing to start', { concurrency: 2, timeout: CLI_SUITE_TIMEOUT_MS }, () => {
  const dir = tempDir();
  let blocker: net.Server;
  let takenPort: number;
  before(async () => {
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    takenPort = (blocker.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => blocker?.close(() => resolve()));
    dir.remove();
  });

  it('exits 1 with every error and without listening when the config is invalid', async () => {
    const r = await runCli(['serve', '-c', INVALID, '--no-watch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ops-invalid\.yaml is not valid; nothing was started/);
    assert.match(r.stderr, /4 errors in configuration/);
    assert.match(r.stderr, /ops-invalid\.yaml:10:17 routes\[0\]\.timeout_ms: /);
    assert.match(r.stderr, /ops-invalid\.yaml:14:5 routes\[1\]\.colour: /);
    assert.doesNotMatch(r.stdout, /gateway_started|admin_started/);
  });

  it('exits 1 with a clear message when the listen port is taken', async () => {
    const file = dir.path('taken.yaml');
    writeFileSync(
      file,
      `gateway:\n  listen: "127.0.0.1:${takenPort}"\n  admin: { listen: "127.0.0.1:0" }\nroutes: []\n`,
    );
    const r = await runCli(['serve', '-c', file, '--no-watch']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`^portico: cannot listen: .*EADDRINUSE.*127\\.0\\.0\\.1:${takenPort}`, 'm'),
    );
    assert.doesNotMatch(r.stdout, /gateway_started/);
  });

  it('exits 1 with a clear message when the admin port is taken, closing the data plane it opened', async () => {
    const file = dir.path('admin-taken.yaml');
    writeFileSync(
      file,
      `gateway:\n  listen: "127.0.0.1:0"\n  admin: { listen: "127.0.0.1:${takenPort}" }\nroutes: []\n`,
    );
    const r = await runCli(['serve', '-c', file, '--no-watch']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`^portico: cannot listen: .*EADDRINUSE.*127\\.0\\.0\\.1:${takenPort}`, 'm'),
    );
    assert.doesNotMatch(r.stdout, /admin_started/);
  });
});

describe('portico demo (the npm start path)', { timeout: CLI_SUITE_TIMEOUT_MS }, () => {
  const dir = tempDir();
  let child: CliChild | undefined;
  after(async () => {
    await child?.kill();
    dir.remove();
  });

  it('serves the demo orders service, answers unknown paths with 404 problem+json, exits 0 on SIGTERM', async () => {
    const example = readFileSync(join(REPO_ROOT, 'examples/gateway.yaml'), 'utf8');
    const copy = example
      .replace(/listen: ':8080'/, `listen: '127.0.0.1:0'`)
      .replace(/listen: '127\.0\.0\.1:9876'/, `listen: '127.0.0.1:0'`);
    assert.notEqual(copy, example, 'the example still has the listen lines this test rewrites');
    assert.doesNotMatch(copy, /:8080|:9876/);
    const file = dir.path('gateway.yaml');
    writeFileSync(file, copy);
    const [orders, users, payments] = [await closedPort(), await closedPort(), await closedPort()];
    child = spawnCli(['demo', '-c', file], {
      ORDERS_URL: `http://127.0.0.1:${orders}`,
      USERS_URL: `http://127.0.0.1:${users}`,
      PAYMENTS_URL: `http://127.0.0.1:${payments}`,
    });
    const demo = await waitForServe(child);
    // The hints go to stderr after the startup log lines reach stdout; the two pipes race.
    await demo.waitForStderr(/Ctrl-C stops everything/);
    assert.match(demo.stderr(), new RegExp(`orders \\(http://127\\.0\\.0\\.1:${orders}\\)`));
    assert.match(demo.stderr(), new RegExp(`curl -i http://127\\.0\\.0\\.1:${demo.port}/orders`));

    const res = await fetch(`${demo.url}/orders`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      service: string;
      orders: unknown[];
      gateway_headers: Record<string, string>;
    };
    assert.equal(body.service, 'orders');
    assert.equal(body.orders.length, 3);
    assert.equal(body.gateway_headers['x-trace-id'], res.headers.get('x-trace-id'));

    const v2 = await fetch(`${demo.url}/v2/orders/1`);
    assert.equal(v2.status, 200);
    assert.equal(v2.headers.get('x-api-version'), '2');
    assert.equal(((await v2.json()) as { path: string }).path, '/orders/1');

    const missing = await fetch(`${demo.url}/nowhere`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
    const p = (await missing.json()) as Record<string, unknown>;
    assert.equal(p.type, 'https://portico.dev/problems/route-not-found');
    assert.equal(p.trace_id, missing.headers.get('x-trace-id'));

    demo.signal('SIGTERM');
    assert.deepEqual(await demo.exited, { code: 0, signal: null });
    assert.equal(demo.logs.find((l) => l.event === 'shutdown_complete')?.drained, true);
    const access = demo.logs.filter((l) => l.method === 'GET');
    assert.deepEqual(
      access.map((l) => [l.path, l.route, l.status]),
      [
        ['/orders', 'orders-service', 200],
        ['/v2/orders/1', 'orders-v2', 200],
        ['/nowhere', undefined, 404],
      ],
    );
  });
});
