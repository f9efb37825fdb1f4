// Self-test of the fault upstream: every fault as a real client (undici) sees it, and the stats tests rely on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { startFaultUpstream, type FaultUpstream } from './fault-upstream.js';

const HERE = dirname(fileURLToPath(import.meta.url));

interface Outcome {
  readonly status?: number;
  /** Body bytes received before the body ended or failed. */
  readonly received: number;
  readonly text: string;
  /** Code (or else name) of the error the request or its body failed with. */
  readonly error?: string;
  readonly ms: number;
}

/** One request on its own connection; never throws, so a table can compare outcomes. */
async function call(
  url: string,
  opts: { path?: string; method?: string; body?: string; headersTimeout?: number; bodyTimeout?: number } = {},
): Promise<Outcome> {
  const client = new Client(url, {
    headersTimeout: opts.headersTimeout ?? 5000,
    bodyTimeout: opts.bodyTimeout ?? 5000,
  });
  const started = Date.now();
  let status: number | undefined;
  const chunks: Buffer[] = [];
  try {
    const res = await client.request({
      path: opts.path ?? '/',
      method: (opts.method ?? 'GET') as 'GET',
      body: opts.body,
    });
    status = res.statusCode;
    for await (const chunk of res.body) chunks.push(chunk as Buffer);
    return {
      status,
      received: Buffer.concat(chunks).length,
      text: Buffer.concat(chunks).toString(),
      ms: Date.now() - started,
    };
  } catch (err) {
    const error = (err as { code?: string }).code ?? (err as Error).name;
    return { status, received: Buffer.concat(chunks).length, text: '', error, ms: Date.now() - started };
  } finally {
    await client.destroy();
  }
}

describe('fault upstream', () => {
  let up: FaultUpstream;
  before(async () => {
    up = await startFaultUpstream({ name: 'alpha' });
  });
  after(() => up.stop());
  beforeEach(async () => {
    await up.accept();
    await up.setMode('ok');
    await up.setHealth('healthy');
    await up.resetStats();
  });

  test('ok: 200 JSON naming the server, path, method, hit number and body length', async () => {
    const first = await call(up.url, { path: '/a/b?x=1', method: 'POST', body: 'hello' });
    assert.equal(first.status, 200);
    assert.deepEqual(JSON.parse(first.text), {
      server: 'alpha',
      method: 'POST',
      path: '/a/b',
      url: '/a/b?x=1',
      hit: 1,
      bodyLength: 5,
    });
    assert.equal(JSON.parse((await call(up.url)).text).hit, 2);
  });

  // Each fault as the client sees it.
  const faults: {
    name: string;
    set: (up: FaultUpstream) => Promise<void>;
    expect: (o: Outcome) => void;
  }[] = [
    {
      name: 'status 503',
      set: (u) => u.setMode('status', { status: 503, headers: { 'retry-after': '1' } }),
      expect: (o) => {
        assert.equal(o.status, 503);
        assert.deepEqual(JSON.parse(o.text), { server: 'alpha', status: 503, hit: 1 });
      },
    },
    {
      name: 'stall-headers: the client gives up waiting for headers',
      set: (u) => u.setMode('stall-headers'),
      expect: (o) => {
        assert.equal(o.status, undefined);
        assert.equal(o.error, 'UND_ERR_HEADERS_TIMEOUT');
      },
    },
    {
      name: 'stall-body: headers and 10 bytes, then the client gives up waiting for the rest',
      set: (u) => u.setMode('stall-body', { bytes: 10, contentLength: 100 }),
      expect: (o) => {
        assert.equal(o.status, 200);
        assert.equal(o.received, 10);
        assert.equal(o.error, 'UND_ERR_BODY_TIMEOUT');
      },
    },
    {
      // ECONNRESET; or, when the RST lands before the client read the partial body, libuv reports the hang-up
      // as end of stream and undici says 'other side closed'.
      name: 'reset-mid-body: headers and 7 bytes, then the connection breaks',
      set: (u) => u.setMode('reset-mid-body', { bytes: 7, contentLength: 100 }),
      expect: (o) => {
        assert.equal(o.status, 200);
        assert.equal(o.received, 7);
        assert.match(o.error ?? '', /^(ECONNRESET|UND_ERR_SOCKET)$/);
      },
    },
    {
      name: 'reset-before-headers: ECONNRESET and no response',
      set: (u) => u.setMode('reset-before-headers'),
      expect: (o) => {
        assert.equal(o.status, undefined);
        assert.equal(o.error, 'ECONNRESET');
      },
    },
    {
      name: 'garbage: a parse error',
      set: (u) => u.setMode('garbage'),
      expect: (o) => {
        assert.equal(o.status, undefined);
        assert.equal(o.error, 'HTTPParserError');
      },
    },
    {
      name: 'slow: 200 after the delay',
      set: (u) => u.setMode('slow', { delayMs: 300 }),
      expect: (o) => {
        assert.equal(o.status, 200);
        assert.ok(o.ms >= 290, `answered after ${o.ms} ms`);
      },
    },
  ];
  for (const fault of faults) {
    test(fault.name, async () => {
      await fault.set(up);
      fault.expect(await call(up.url, { path: '/f', headersTimeout: 300, bodyTimeout: 300 }));
      const stats = await up.waitForStats((s) => s.openSockets === 0);
      assert.equal(stats.hits, 1);
      assert.equal(stats.connections, 1);
    });
  }

  test('burst: N answers of the given status, then ok', async () => {
    await up.setMode('burst', { count: 3, status: 502 });
    assert.equal((await up.stats()).burstRemaining, 3);
    const statuses: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await call(up.url)).status);
    assert.deepEqual(statuses, [502, 502, 502, 200, 200]);
    const stats = await up.stats();
    assert.deepEqual(stats.byMode, { burst: 3, ok: 2 });
    assert.equal(stats.mode, 'ok');
    assert.equal(stats.burstRemaining, 0);
  });

  test('refuse: ECONNREFUSED and open connections dropped; accept listens on the same port again', async () => {
    const keepAlive = new Client(up.url);
    try {
      assert.equal(
        (await (await keepAlive.request({ path: '/', method: 'GET' })).body.text()).length > 0,
        true,
      );
      assert.equal((await up.stats()).openSockets, 1);
      await up.refuse();
      const refused = await up.stats();
      assert.equal(refused.listening, false);
      assert.equal(refused.openSockets, 0);
      assert.equal((await call(up.url)).error, 'ECONNREFUSED');
      await up.refuse(); // idempotent
      await up.accept();
      assert.equal((await up.stats()).listening, true);
      const back = await call(up.url);
      assert.equal(back.status, 200);
      assert.equal((await up.stats()).hits, 2);
    } finally {
      await keepAlive.destroy();
    }
  });

  test('health is switched apart from the mode and counted apart from the hits', async () => {
    await up.setMode('status', { status: 500 });
    assert.equal((await call(up.url, { path: '/healthz' })).status, 200);
    await up.setHealth('unhealthy');
    assert.equal((await call(up.url, { path: '/healthz' })).status, 503);
    await up.setHealth('stall');
    assert.equal(
      (await call(up.url, { path: '/healthz', headersTimeout: 200 })).error,
      'UND_ERR_HEADERS_TIMEOUT',
    );
    const stats = await up.waitForStats((s) => s.openSockets === 0);
    assert.equal(stats.healthChecks, 3);
    assert.equal(stats.hits, 0);
    assert.equal(stats.health, 'stall');
  });

  test('stats: hits by path and mode; open sockets back to 0 once the clients close', async () => {
    const clients = [new Client(up.url), new Client(up.url)];
    for (const [i, path] of ['/a', '/a', '/b'].entries()) {
      await (await clients[i % 2]!.request({ path, method: 'GET' })).body.text();
    }
    await up.setMode('status', { status: 404 });
    await (await clients[0]!.request({ path: '/c?q=1', method: 'GET' })).body.text();
    const during = await up.stats();
    assert.equal(during.hits, 4);
    assert.deepEqual(during.byPath, { '/a': 2, '/b': 1, '/c': 1 });
    assert.deepEqual(during.byMode, { ok: 3, status: 1 });
    assert.equal(during.openSockets, 2);
    assert.equal(during.connections, 2);
    await Promise.all(clients.map((c) => c.close()));
    await up.waitForStats((s) => s.openSockets === 0);
    await up.resetStats();
    const reset = await up.stats();
    assert.deepEqual([reset.hits, reset.connections, reset.byPath, reset.byMode], [0, 0, {}, {}]);
  });

  test('an invalid mode or param is refused by the control channel', async () => {
    await assert.rejects(up.setMode('nope' as 'ok'), /400 .*mode must be one of/);
    await assert.rejects(up.setMode('status', { status: 99 }), /status must be an integer/);
    await assert.rejects(up.setMode('burst', {} as { count: number }), /count must be an integer/);
    assert.equal((await up.stats()).mode, 'ok');
  });

  test('a second target tells itself apart; stop() kills it even with a stalled request, and is idempotent', async () => {
    const beta = await startFaultUpstream({ name: 'beta' });
    let stalled: Promise<Outcome> | undefined;
    try {
      assert.notEqual(beta.port, up.port);
      assert.equal(JSON.parse((await call(beta.url)).text).server, 'beta');
      assert.equal(JSON.parse((await call(up.url)).text).server, 'alpha');
      await beta.setMode('stall-headers');
      stalled = call(beta.url, { headersTimeout: 10_000 });
      await beta.waitForStats((s) => s.hits === 2);
    } finally {
      await beta.stop();
    }
    assert.throws(() => process.kill(beta.pid, 0), { code: 'ESRCH' });
    await beta.stop();
    assert.match((await stalled).error ?? '', /ECONNRESET|UND_ERR_SOCKET/);
    assert.equal((await call(beta.url)).error, 'ECONNREFUSED');
  });
});

describe('fault upstream process', () => {
  test('the child exits by itself when its stdin closes (its parent is gone)', async () => {
    const script = resolve(HERE, '..', 'fixtures', 'fault-upstream-server.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, 'orphan'], { stdio: 'pipe' });
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      assert.equal(JSON.parse(line.toString()).name, 'orphan');
      child.stdin.end();
      assert.deepEqual(await exited, [0, null]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a child that fails to start rejects with its stderr', async () => {
    await assert.rejects(
      startFaultUpstream({ name: '' }),
      /exited before it was ready[^]*usage: fault-upstream-server/,
    );
  });
});
