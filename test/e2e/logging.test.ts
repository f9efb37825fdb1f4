// Logging end to end, over real sockets, processes and signals: sampling drops only successes, credentials in
// query strings are redacted, logs go to files that a real SIGUSR1 reopens after logrotate renamed them, a
// log path that cannot work stops the start with a clear message, and no secret a client sends — in headers,
// query, body or a request the parser refuses — reaches stdout, stderr or a log file.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ACCESS_LOG_FIELDS } from '../../src/config/gateway-schema.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { readJsonLines, serveWithEventLogFile, waitForFileLine } from '../fixtures/logging-files.js';
import { runCli, sleep, tempDir, type LogLine } from '../fixtures/ops-child.js';

/** A whole config: `gateway` holds extra lines (indented two spaces) after listen and admin. */
function config(
  upstream: string,
  gateway: readonly string[] = [],
  admin = '{ listen: "127.0.0.1:0" }',
): string {
  return [
    'gateway:',
    '  listen: "127.0.0.1:0"',
    `  admin: ${admin}`,
    ...gateway.map((l) => `  ${l}`),
    'routes:',
    '  - name: api',
    '    path_prefix: /api',
    `    upstream: ${upstream}`,
    '',
  ].join('\n');
}

/** /api/fail answers 500, /api/slow after 2 s, anything else is echoed with a session cookie set. */
function startTestUpstream(setCookie = 'session=upstream'): Promise<TestUpstream> {
  return startUpstream((req, res, body) => {
    if (req.url!.startsWith('/api/fail')) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('broken');
    } else if (req.url!.startsWith('/api/slow')) {
      const timer = setTimeout(() => res.end('late'), 2000);
      res.once('close', () => clearTimeout(timer));
    } else {
      res.setHeader('set-cookie', setCookie);
      void echoHandler(req, res, body);
    }
  });
}

async function get(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

/** Runs `n` calls of `fn`, `width` at a time. */
async function inParallel(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function waitFor<T>(fn: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('access log sampling and redaction (in process)', { timeout: 60_000 }, () => {
  let up: TestUpstream;
  let gw: TestGateway | undefined;
  before(async () => {
    up = await startTestUpstream();
  });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });
  after(() => up.close());

  it('with sample 0 writes only errors, gateway problems and aborted requests', async () => {
    gw = await startTestGateway(
      config(up.url, ['access_log: { sample: 0, fields: [method, path, status, upstream_status] }']),
    );
    const g = gw;
    await inParallel(30, 6, (i) => get(`${g.url}/api/ok/${i}`));
    for (let i = 0; i < 3; i++) assert.equal(await get(`${g.url}/nowhere/${i}`), 404);
    for (let i = 0; i < 3; i++) assert.equal(await get(`${g.url}/api/fail/${i}`), 500);
    assert.equal(await get(`${g.url}/api/ok`, { method: 'DELETE' }), 200);
    // A client that gives up before the answer: its line is kept whatever the status would have been.
    await assert.rejects(get(`${g.url}/api/slow`, { signal: AbortSignal.timeout(100) }));
    const aborted = await waitFor(
      () => g.accessLines().find((l) => l.path === '/api/slow'),
      'the aborted request’s line',
    );
    assert.equal(aborted.aborted, true);
    const lines = g.accessLines();
    assert.deepEqual(
      lines.filter((l) => l.path !== '/api/slow').map((l) => [l.path, l.status]),
      [
        ['/nowhere/0', 404],
        ['/nowhere/1', 404],
        ['/nowhere/2', 404],
        ['/api/fail/0', 500],
        ['/api/fail/1', 500],
        ['/api/fail/2', 500],
      ],
    );
    assert.ok(lines.slice(0, 3).every((l) => l.problem === 'route-not-found'));
    assert.equal(up.received.filter((r) => r.url.startsWith('/api/ok')).length, 31, 'all were served');
  });

  it('with sample 0.5 writes about half of 400 successes and every error', async () => {
    gw = await startTestGateway(
      config(up.url, ['access_log: { sample: 0.5, fields: [method, path, status] }']),
    );
    const g = gw;
    await inParallel(400, 16, (i) => get(`${g.url}/api/ok/${i}`));
    await inParallel(40, 8, (i) => get(`${g.url}/api/fail/${i}`));
    const lines = g.accessLines();
    const ok = lines.filter((l) => l.status === 200).length;
    // 400 draws at p = 0.5: the standard deviation is 10; 120..280 is eight of them either way.
    assert.ok(ok >= 120 && ok <= 280, `${ok} of 400 successes logged`);
    assert.equal(lines.filter((l) => l.status === 500).length, 40);
    assert.equal(new Set(lines.map((l) => l.path)).size, lines.length, 'no line written twice');
  });

  it('replaces credential query parameters; a configured list replaces the default, also on reload', async () => {
    gw = await startTestGateway(config(up.url, ['access_log: { fields: [method, path, query, status] }']));
    const target = '/api/q?page=2&api_key=k1&Token=t1&session=s1';
    assert.equal(await get(gw.url + target), 200);
    assert.equal(await get(`${gw.url}/nowhere?access_token=a1&x=%22quoted%22`), 404);
    assert.equal(await get(`${gw.url}/api/plain`), 200);
    assert.deepEqual(
      gw.accessLines().map((l) => l.query),
      [
        'page=2&api_key=[redacted]&Token=[redacted]&session=[redacted]',
        'access_token=[redacted]&x=%22quoted%22',
        undefined,
      ],
    );
    assert.equal(up.received.at(-2)?.url, target, 'the upstream still gets the query as sent');

    gw.writeConfig(config(up.url, ['access_log: { fields: [method, query, status], redact: [SESSION] }']));
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    assert.equal(await get(gw.url + target), 200);
    assert.equal(gw.accessLines().at(-1)?.query, 'page=2&api_key=k1&Token=t1&session=[redacted]');
  });

  it('applies a reload that moves the log files except for the files: config_restart_required', async () => {
    const dir = tempDir();
    try {
      gw = await startTestGateway(config(up.url));
      gw.writeConfig(
        config(up.url, [
          `log_file: ${dir.path('events.log')}`,
          `access_log: { file: ${dir.path('access.log')} }`,
        ]),
      );
      assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
      const warnings = gw.logs.filter((l) => l.event === 'config_restart_required').map((l) => l.setting);
      assert.deepEqual(warnings, ['gateway.log_file', 'gateway.access_log.file']);
      assert.equal(await get(`${gw.url}/api/after-reload`), 200);
      assert.ok(
        gw.accessLines().some((l) => l.path === '/api/after-reload'),
        'still logged where it was',
      );
      assert.ok(!existsSync(dir.path('events.log')) && !existsSync(dir.path('access.log')));
    } finally {
      dir.remove();
    }
  });

  it('registers no signal listener when used as a library', async () => {
    const before = process.listenerCount('SIGUSR1');
    gw = await startTestGateway(config(up.url));
    assert.equal(process.listenerCount('SIGUSR1'), before);
  });
});

describe('log files and rotation (portico serve in a child process)', { timeout: 60_000 }, () => {
  let up: TestUpstream;
  before(async () => {
    up = await startTestUpstream();
  });
  after(() => up.close());

  it('appends to the files, and after logrotate renamed them and sent SIGUSR1 writes new lines at the same paths', async () => {
    const dir = tempDir();
    const yaml = config(
      up.url,
      ['log_file: events.log', 'access_log: { file: logs/access.log, fields: [method, path, status] }'],
      '{ enabled: false }',
    );
    writeFileSync(dir.path('gateway.yaml'), yaml);
    const events = dir.path('events.log');
    const access = dir.path('logs/access.log');
    const child = await serveWithEventLogFile(dir.path('gateway.yaml'), events);
    const accessLine = (file: string, path: string) => waitForFileLine(file, (l) => l.path === path);
    try {
      assert.equal(await get(`${child.url}/api/before`), 200);
      await accessLine(access, '/api/before');

      renameSync(access, `${access}.1`);
      renameSync(events, `${events}.1`);
      // Until the signal, the gateway keeps writing to the file it has open (now access.log.1).
      assert.equal(await get(`${child.url}/api/between`), 200);
      await accessLine(`${access}.1`, '/api/between');

      child.signal('SIGUSR1');
      const reopened = await waitForFileLine(events, (l) => l.event === 'log_reopened');
      assert.deepEqual(reopened.files, [events, access]);
      assert.equal(await get(`${child.url}/api/after`), 200);
      await accessLine(access, '/api/after');

      child.signal('SIGTERM');
      const exit = await child.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, child.stderr());

      const paths = (file: string) => readJsonLines(file).map((l) => l.path);
      assert.deepEqual(paths(`${access}.1`), ['/api/before', '/api/between']);
      assert.deepEqual(paths(access), ['/api/after']);
      const names = (file: string) => readJsonLines(file).map((l) => l.event);
      assert.ok(names(`${events}.1`).includes('gateway_started'));
      assert.ok(!names(`${events}.1`).includes('log_reopened'));
      assert.deepEqual(names(events), ['log_reopened', 'shutdown_started', 'shutdown_complete']);
      assert.equal(child.stdout(), '', 'nothing on stdout: every line went to a file');
      assert.equal(child.stderr(), '');
    } finally {
      await child.kill();
      dir.remove();
    }
  });

  it('refuses to start when a log file cannot be opened, saying which file and why', async () => {
    const dir = tempDir({ 'not-a-dir': '' });
    try {
      writeFileSync(dir.path('gateway.yaml'), config(up.url, ['log_file: not-a-dir/events.log']));
      const r = await runCli(['serve', '-c', dir.path('gateway.yaml'), '--no-watch']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        `portico: cannot open the log file ${dir.path('not-a-dir/events.log')}: ENOTDIR: not a directory\n`,
      );
    } finally {
      dir.remove();
    }
  });
});

describe('logs contain no secrets', { timeout: 60_000 }, () => {
  it('with every access field and debug events, no credential a client sends is written anywhere', async () => {
    const secrets = Array.from({ length: 14 }, (_, i) => `SECRET${i}x${randomBytes(6).toString('hex')}`);
    const s = (i: number) => secrets[i]!;
    const up = await startTestUpstream(`session=${s(13)}; HttpOnly`);
    const dir = tempDir();
    const events = dir.path('events.log');
    writeFileSync(
      dir.path('gateway.yaml'),
      config(up.url, [
        'log_level: debug',
        'log_file: events.log',
        `access_log: { fields: [${ACCESS_LOG_FIELDS.join(', ')}] }`,
      ]),
    );
    const child = await serveWithEventLogFile(dir.path('gateway.yaml'), events);
    try {
      const credentials = {
        authorization: `Bearer ${s(0)}`,
        cookie: `session=${s(1)}`,
        'x-api-key': s(2),
        'proxy-authorization': `Basic ${s(3)}`,
      };
      assert.equal(
        await get(`${child.url}/api/a?api_key=${s(4)}&token=${s(5)}`, { headers: credentials }),
        200,
      );
      assert.equal(await get(`${child.url}/nowhere?access_token=${s(6)}`, { headers: credentials }), 404);
      assert.equal(await get(`${child.url}/api/fail?password=${s(7)}`, { headers: credentials }), 500);
      const post = { method: 'POST', headers: credentials, body: JSON.stringify({ password: s(8) }) };
      assert.equal(await get(`${child.url}/api/form?client_secret=${s(9)}`, post), 200);
      const longUrl = `/api/long?token=${s(10)}&pad=${'x'.repeat(9000)}`;
      assert.equal(await get(child.url + longUrl, { headers: credentials }), 414);
      // Refused by the HTTP parser (a header line without a colon; a header block over the limit).
      const badHeader = await rawRequest(
        child.port,
        `GET /api/x?api_key=${s(11)} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${s(11)}\r\nX-Api-Key ${s(11)}\r\n\r\n`,
      );
      assert.match(badHeader.text, /^HTTP\/1\.1 400 /);
      const huge = await rawRequest(
        child.port,
        `GET /api/y?token=${s(12)} HTTP/1.1\r\nHost: a\r\nCookie: session=${s(12)}${'x'.repeat(20_000)}\r\n\r\n`,
      );
      assert.match(huge.text, /^HTTP\/1\.1 431 /);
      child.signal('SIGHUP'); // a debug event (config_unchanged)
      await waitForFileLine(events, (l) => l.event === 'config_unchanged');
      child.signal('SIGTERM');
      assert.equal((await child.exited).code, 0, child.stderr());

      const eventText = readFileSync(events, 'utf8');
      const outputs = { stdout: child.stdout(), stderr: child.stderr(), 'events.log': eventText };
      for (const [where, text] of Object.entries(outputs))
        for (const secret of secrets) assert.ok(!text.includes(secret), `${secret} appears in ${where}`);

      // The requests were logged, with every field: the test saw what it should have.
      const lines = child.logs.filter((l): l is LogLine => 'status' in l && 'method' in l);
      assert.deepEqual(
        lines.map((l) => l.status),
        [200, 404, 500, 200, 414],
      );
      assert.equal(lines[0]!.query, 'api_key=[redacted]&token=[redacted]');
      assert.equal(lines[3]!.query, 'client_secret=[redacted]');
      for (const f of ['user_agent', 'host', 'bytes_received', 'upstream', 'protocol'])
        assert.ok(f in lines[0]!, `field ${f} is logged`);
      const refusals = readJsonLines(events).filter((l) => l.event === 'client_error');
      assert.deepEqual(
        refusals.map((l) => l.status),
        [400, 431],
      );
    } finally {
      await child.kill();
      dir.remove();
      await up.close();
    }
  });
});
