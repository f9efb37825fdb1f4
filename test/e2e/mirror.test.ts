// E2E mirroring (issue 18 point 4): a real gateway, a real primary upstream and real shadow upstreams on
// ephemeral loopback ports. Every mirrored request reaches the shadow marked X-Portico-Mirror: 1 with the
// same method, path and body, none at percent 0; a body over max_body_bytes reaches the primary whole and the
// shadow not at all; a shadow that never answers holds at most max_in_flight copies open and the rest are
// counted as dropped; a shadow that sleeps 2 s or resets the connection leaves the client's status and
// latency as a twin route without mirroring has them (paired, interleaved, generous margins); and `portico
// validate` refuses an unknown shadow upstream and a percent out of 0..100 with their lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sample } from '../fixtures/metric-sample.js';
import { CLI_SUITE_TIMEOUT_MS, runCli, tempDir } from '../fixtures/ops-child.js';

/** A shadow upstream whose behaviour the test picks: it records each request head as it arrives. */
interface Shadow {
  readonly url: string;
  /** Request heads received (method, url, headers), in order. */
  readonly received: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  /** Requests received and not answered yet. */
  open: number;
  close(): Promise<void>;
}

type ShadowMode = 'sleep-2s' | 'reset' | 'never';

async function startShadow(mode: ShadowMode): Promise<Shadow> {
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const shadow: Shadow = {
    url: '',
    received: [],
    open: 0,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    shadow.received.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (mode === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    shadow.open++;
    res.on('close', () => shadow.open--);
    req.resume();
    if (mode === 'never') return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('late');
    }, 2000);
    timers.add(timer);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(shadow, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

/** Waits until `cond` holds (polled), or fails after `ms` saying `what`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe('mirror: shadow traffic', { timeout: 120_000 }, () => {
  let primary: TestUpstream;
  let shadow: TestUpstream;
  let sleepy: Shadow;
  let resetting: Shadow;
  let hanging: Shadow;
  let gw: TestGateway;

  before(async () => {
    [primary, shadow, sleepy, resetting, hanging] = await Promise.all([
      startUpstream(),
      startUpstream(),
      startShadow('sleep-2s'),
      startShadow('reset'),
      startShadow('never'),
    ]);
    gw = await startTestGateway(`
upstreams:
  shadow:
    targets: [{ url: "${shadow.url}" }]
  hanging:
    targets: [{ url: "${hanging.url}" }]
routes:
  - name: copy
    path_prefix: /copy
    upstream: ${primary.url}
    mirror: { upstream: shadow, percent: 100, max_body_bytes: 1024 }
  - name: none
    path_prefix: /none
    upstream: ${primary.url}
    mirror: { upstream: shadow, percent: 0 }
  - name: plain
    path_prefix: /plain
    upstream: ${primary.url}
  - name: sleepy
    path_prefix: /sleepy
    upstream: ${primary.url}
    mirror: { upstream: "${sleepy.url}" }
  - name: reset
    path_prefix: /reset
    upstream: ${primary.url}
    mirror: { upstream: "${resetting.url}" }
  - name: bounded
    path_prefix: /bounded
    upstream: ${primary.url}
    mirror: { upstream: hanging, max_in_flight: 3, timeout_ms: 60000 }
`);
  });

  after(async () => {
    // The gateway first: it cancels the copies still open (the hanging shadow's) as it shuts down.
    await gw?.stop();
    await Promise.all([
      primary?.close(),
      shadow?.close(),
      sleepy?.close(),
      resetting?.close(),
      hanging?.close(),
    ]);
  });

  async function metrics(): Promise<string> {
    const res = await fetch(`${gw.adminUrl}/metrics`);
    assert.equal(res.status, 200);
    return res.text();
  }
  /** /metrics once `ok` holds for it (polled), or as it is after 10 s. */
  async function scrapeUntil(ok: (text: string) => boolean): Promise<string> {
    const end = Date.now() + 10_000;
    let text = await metrics();
    while (!ok(text) && Date.now() < end) {
      await sleep(50);
      text = await metrics();
    }
    return text;
  }
  const mirrored = (text: string, route: string, result: string) =>
    sample(text, 'portico_mirror_requests_total', { route, result });

  /** Status and milliseconds of one request, its body read. */
  async function timed(path: string): Promise<{ status: number; ms: number }> {
    const t0 = performance.now();
    const res = await fetch(`${gw.url}${path}`);
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - t0 };
  }

  it('percent 100: every request reaches the shadow marked, with the same method, path and body', async () => {
    const sends: [string, RequestInit][] = [
      ['/copy/a?x=1', {}],
      ['/copy/b', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } }],
      ['/copy/c', { method: 'PUT', body: chunked(['par', 'ts']), duplex: 'half' } as RequestInit],
      ['/copy/d', { method: 'DELETE' }],
      // A client cannot pass its request off as a mirrored one: its own marker reaches no upstream.
      ['/copy/e', { headers: { 'x-portico-mirror': '1' } }],
    ];
    for (const [path, init] of sends) {
      const res = await fetch(`${gw.url}${path}`, init);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('x-portico-mirror'), null, 'nothing of the shadow reaches the client');
      await res.arrayBuffer();
    }
    await until(() => shadow.received.length >= sends.length, 'the shadow copies');
    await sleep(100);
    assert.equal(shadow.received.length, sends.length, 'one copy each');
    for (const [path] of sends) {
      const p = primary.received.find((r) => r.url === path);
      const s = shadow.received.find((r) => r.url === path);
      assert.ok(p, `${path} reached the primary`);
      assert.ok(s, `${path} reached the shadow`);
      assert.equal(s.method, p.method, path);
      assert.equal(s.body.toString(), p.body.toString(), path);
      assert.equal(s.headers['x-portico-mirror'], '1', path);
      assert.equal(s.headers.host, new URL(shadow.url).host, `${path}: the shadow's own Host`);
      assert.equal(p.headers['x-portico-mirror'], undefined, `${path}: the primary request is not marked`);
      assert.equal(s.headers['x-forwarded-for'], p.headers['x-forwarded-for'], path);
    }
    assert.equal(shadow.received.find((r) => r.url === '/copy/c')!.body.toString(), 'parts');
    const line = gw.accessLines().find((l) => l.path === '/copy/b');
    assert.equal(line?.mirrored, true, 'the access line says the request was mirrored');
    // Counted once the shadow's answer has been read.
    const text = await scrapeUntil((t) => mirrored(t, 'copy', 'sent') === sends.length);
    assert.equal(mirrored(text, 'copy', 'sent'), sends.length);
    assert.equal(mirrored(text, 'copy', 'failed'), 0);
  });

  it('percent 0: no request reaches the shadow', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await timed(`/none/${i}`)).status, 200);
    await until(() => primary.received.filter((r) => r.url.startsWith('/none/')).length === 5, 'the primary');
    await sleep(200);
    assert.deepEqual(
      shadow.received.filter((r) => r.url.startsWith('/none/')),
      [],
    );
    assert.equal(mirrored(await metrics(), 'none', 'sent'), 0);
  });

  it('a body over max_body_bytes reaches the primary whole and the shadow not at all', async () => {
    const big = 'x'.repeat(4096);
    const declared = await fetch(`${gw.url}/copy/big`, { method: 'POST', body: big });
    assert.equal(declared.status, 200);
    await declared.arrayBuffer();
    const streamed = await fetch(`${gw.url}/copy/big-chunked`, {
      method: 'POST',
      body: chunked(['y'.repeat(700), 'y'.repeat(700), 'y'.repeat(700)]),
      duplex: 'half',
    } as RequestInit);
    assert.equal(streamed.status, 200);
    await streamed.arrayBuffer();
    // A small one after them: once it is at the shadow, the big ones would have been sent long before.
    await (await fetch(`${gw.url}/copy/small-after`, { method: 'POST', body: 'ok' })).arrayBuffer();
    await until(() => shadow.received.some((r) => r.url === '/copy/small-after'), 'the small copy');
    await sleep(100);
    assert.equal(primary.received.find((r) => r.url === '/copy/big')?.body.length, 4096);
    assert.equal(primary.received.find((r) => r.url === '/copy/big-chunked')?.body.length, 2100);
    assert.equal(
      shadow.received.find((r) => r.url === '/copy/big'),
      undefined,
    );
    assert.equal(
      shadow.received.find((r) => r.url === '/copy/big-chunked'),
      undefined,
    );
    assert.equal(mirrored(await metrics(), 'copy', 'skipped_body'), 2);
  });

  it('a shadow that never answers holds at most max_in_flight copies; the rest are dropped and counted', async () => {
    for (let i = 0; i < 8; i++) {
      const r = await timed(`/bounded/${i}`);
      assert.equal(r.status, 200);
    }
    await until(() => hanging.open === 3, 'three open copies at the hanging shadow');
    await sleep(200);
    assert.equal(hanging.received.length, 3, 'never more than max_in_flight');
    assert.equal(hanging.open, 3);
    const text = await metrics();
    assert.equal(mirrored(text, 'bounded', 'dropped'), 5);
    assert.equal(mirrored(text, 'bounded', 'sent'), 0);
    assert.equal(mirrored(text, 'bounded', 'failed'), 0);
  });

  for (const [route, what] of [
    ['sleepy', 'sleeps 2 s'],
    ['reset', 'resets the connection'],
  ] as const) {
    it(`a shadow that ${what} changes neither the client's status nor its latency`, async () => {
      const with_: number[] = [];
      const without: number[] = [];
      // Paired and interleaved (order alternating), against a twin route without mirroring.
      for (let i = 0; i < 8; i++) {
        const pair =
          i % 2 === 0
            ? [`/${route}/${i}`, `/plain/${route}-${i}`]
            : [`/plain/${route}-${i}`, `/${route}/${i}`];
        for (const path of pair) {
          const r = await timed(path);
          assert.equal(r.status, 200, path);
          (path.startsWith('/plain/') ? without : with_).push(r.ms);
        }
      }
      const shadowOf = route === 'sleepy' ? sleepy : resetting;
      await until(() => shadowOf.received.length >= 8, 'every copy at the shadow');
      // A delay from a 2 s shadow would put the median at 2 s or more; a generous margin either way.
      assert.ok(median(with_) < 1000, `median with mirroring ${median(with_).toFixed(0)} ms`);
      assert.ok(
        median(with_) < median(without) + 500,
        `median ${median(with_).toFixed(0)} ms with mirroring, ${median(without).toFixed(0)} ms without`,
      );
      if (route === 'reset') {
        const text = await scrapeUntil((t) => mirrored(t, 'reset', 'failed') === 8);
        assert.equal(mirrored(text, 'reset', 'failed'), 8);
        assert.equal(mirrored(text, 'reset', 'sent'), 0);
      }
    });
  }
});

describe('mirror: portico validate', { concurrency: 2, timeout: CLI_SUITE_TIMEOUT_MS }, () => {
  const head = [
    'upstreams:',
    '  shadow:',
    '    targets: [{ url: "http://127.0.0.1:9" }]',
    'routes:',
    '  - name: a',
    '    path_prefix: /a',
    '    upstream: http://127.0.0.1:9',
    '    mirror:',
  ];

  /** `portico validate` of the config `head` + `mirror`: its exit code and issue lines. */
  async function validate(mirror: readonly string[]): Promise<{ code: number | null; issues: string[] }> {
    const t = tempDir({ 'gateway.yaml': [...head, ...mirror, ''].join('\n') });
    try {
      const r = await runCli(['validate', t.path('gateway.yaml')]);
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^1 error in configuration$/, r.stderr);
      return { code: r.code, issues: lines.slice(1).map((l) => l.trim()) };
    } finally {
      t.remove();
    }
  }

  it('refuses an unknown shadow upstream at its line', async () => {
    const r = await validate(['      upstream: shadwo', '      percent: 10']);
    assert.equal(r.code, 1);
    assert.equal(r.issues.length, 1, r.issues.join('\n'));
    assert.match(
      r.issues[0]!,
      /gateway\.yaml:9:\d+ routes\[0\]\.mirror\.upstream: no upstream named "shadwo"/,
    );
    assert.match(r.issues[0]!, /did you mean "shadow"\?/);
  });

  it('refuses a percent out of 0..100 at its line', async () => {
    const r = await validate(['      upstream: shadow', '      percent: 150']);
    assert.equal(r.code, 1);
    assert.equal(r.issues.length, 1, r.issues.join('\n'));
    assert.match(r.issues[0]!, /gateway\.yaml:10:\d+ routes\[0\]\.mirror\.percent: .*150/);
  });
});

/** A request body sent chunked (no Content-Length). */
function chunked(parts: readonly string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const p of parts) controller.enqueue(new TextEncoder().encode(p));
      controller.close();
    },
  });
}
