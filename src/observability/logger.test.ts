// The event logger hides credential headers wherever a caller puts them, and log sinks write to real files:
// appended to, shared when both logs name the same path, reopened at their path after a rename (logrotate),
// flushed on close, and refused at start with a clear message when the path cannot work.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccessLogger, createEventLogger, createLogSinks } from './logger.js';

const SECRET = 's3cr3t-value';

function captureEvents(): { text: () => string; logger: ReturnType<typeof createEventLogger> } {
  let out = '';
  const logger = createEventLogger('debug', { write: (line: string) => void (out += line) });
  return { text: () => out, logger };
}

describe('event logger redaction', () => {
  const headerNames = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];
  const shapes: readonly [where: string, wrap: (name: string) => Record<string, unknown>][] = [
    ['at the top level', (h) => ({ [h]: SECRET })],
    ['under headers', (h) => ({ headers: { [h]: SECRET } })],
    ['under any key', (h) => ({ upstream: { [h]: [SECRET] } })],
    ['under req.headers', (h) => ({ req: { headers: { [h]: SECRET } } })],
  ];
  for (const [where, wrap] of shapes)
    it(`replaces every credential header ${where}`, () => {
      const { text, logger } = captureEvents();
      for (const h of headerNames) logger.info({ event: 'test', ...wrap(h) }, 'a message');
      const lines = text().trimEnd().split('\n');
      assert.equal(lines.length, headerNames.length);
      assert.ok(!text().includes(SECRET), text());
      assert.equal(text().split('"[redacted]"').length - 1, headerNames.length);
    });

  it('keeps other fields as they are', () => {
    const { text, logger } = captureEvents();
    logger.info({ event: 'test', headers: { accept: 'text/plain' }, status: 400 }, 'refused');
    const line = JSON.parse(text()) as Record<string, unknown>;
    assert.deepEqual(line.headers, { accept: 'text/plain' });
    assert.equal(line.status, 400);
    assert.equal(line.level, 'info');
  });
});

describe('log sinks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-logger-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = (path: string) => readFileSync(path, 'utf8').trimEnd().split('\n').filter(Boolean);

  it('writes to the fallback until files are chosen, then appends to them (creating the directory)', async () => {
    const fallback: string[] = [];
    const sinks = createLogSinks({ write: (l: string) => fallback.push(l) });
    sinks.events.write('{"before":true}\n');
    const events = join(dir, 'nested', 'a', 'events.log');
    const access = join(dir, 'access.log');
    writeFileSync(access, '{"old":true}\n');
    sinks.useFiles({ events, access });
    sinks.events.write('{"event":"x"}\n');
    sinks.access.write('{"status":200}\n{"status":404}\n');
    await sinks.close();
    assert.deepEqual(fallback, ['{"before":true}\n']);
    assert.deepEqual(lines(events), ['{"event":"x"}']);
    assert.deepEqual(lines(access), ['{"old":true}', '{"status":200}', '{"status":404}']);
    sinks.access.write('{"after":"close"}\n');
    assert.deepEqual(fallback, ['{"before":true}\n', '{"after":"close"}\n'], 'back to the fallback');
  });

  it('shares one file when both logs name the same path', async () => {
    const sinks = createLogSinks({ write: () => true });
    const both = join(dir, 'both.log');
    sinks.useFiles({ events: both, access: both });
    const access = createAccessLogger(sinks.access);
    const events = createEventLogger('info', sinks.events);
    access.write('{"status":200}');
    access.flush();
    events.info({ event: 'x' }, 'm');
    access.write('{"status":201}');
    access.close();
    assert.deepEqual(sinks.reopen(), [both]);
    await sinks.close();
    const got = lines(both).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      got.map((l) => l.status ?? l.event),
      [200, 'x', 201],
    );
  });

  it('reopens a renamed file at its path: older lines stay in the renamed file, newer ones go to the new', async () => {
    const sinks = createLogSinks({ write: () => true });
    const path = join(dir, 'rotated.log');
    sinks.useFiles({ access: path });
    sinks.access.write('{"n":1}\n');
    // Wait until the first line is on disk (and its write has completed), as logrotate would find it.
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (let i = 0; i < 100 && !(existsSync(path) && readFileSync(path, 'utf8') !== ''); i++) await sleep(10);
    await sleep(20);
    renameSync(path, `${path}.1`);
    sinks.access.write('{"n":2}\n');
    assert.deepEqual(sinks.reopen(), [path]);
    sinks.access.write('{"n":3}\n');
    await sinks.close();
    assert.deepEqual(lines(`${path}.1`), ['{"n":1}', '{"n":2}']);
    assert.deepEqual(lines(path), ['{"n":3}']);
  });

  it('refuses a path that cannot be opened, saying which and why', async () => {
    const sinks = createLogSinks({ write: () => true });
    const notADir = join(dir, 'plain-file');
    writeFileSync(notADir, '');
    assert.throws(
      () => sinks.useFiles({ events: join(notADir, 'events.log') }),
      (err: Error) => {
        assert.match(err.message, /^cannot open the log file .*plain-file\/events\.log: E[A-Z]+: /);
        assert.doesNotMatch(err.message, /, (open|mkdir) '/);
        return true;
      },
    );
    assert.deepEqual(sinks.reopen(), []);
    await sinks.close();
  });
});
