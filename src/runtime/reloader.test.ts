// The reloader takes a build that returns a promise (buildSnapshotFromTextAsync: a reload in slices): the
// snapshot swaps when it succeeds, and when it fails the current one keeps serving and every issue is
// reported with its line.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ResourceRegistry } from '../compiler/carry-over.js';
import { buildSnapshotFromText, buildSnapshotFromTextAsync } from '../compiler/compile-gateway.js';
import { policyRegistry } from '../policies/registry.js';
import { createReloader } from './reloader.js';
import { SnapshotHolder } from './snapshot-holder.js';

const routes = (n: number, changed: string) =>
  [
    'routes:',
    ...Array.from(
      { length: n },
      (_, i) => `  - { name: r${i}, path: /r${i}, upstream: "http://127.0.0.1:${i === 7 ? changed : '1'}" }`,
    ),
    '',
  ].join('\n');

describe('reloads with a build in slices', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-reloader-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('swaps on success, keeps the current snapshot on failure, and logs each outcome', async () => {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, routes(200, '1'));
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    const deps = {
      registry: policyRegistry,
      resources: new ResourceRegistry(),
      env: {},
      accessLogger: undefined,
      eventLogger: undefined,
    };
    const first = buildSnapshotFromText(routes(200, '1'), file, deps);
    assert.ok(first.ok);
    const holder = new SnapshotHolder(first.snapshot, deps.resources);
    const reloader = createReloader({
      file,
      holder,
      logger,
      build: (text) => buildSnapshotFromTextAsync(text, file, deps, 1),
      onSwap: () => undefined,
      watch: false,
      debounceMs: 10,
    });
    try {
      writeFileSync(file, routes(200, '2'));
      const reloaded = await reloader.reload('test');
      assert.equal(reloaded.status, 'reloaded');
      const current = holder.current;
      assert.notEqual(current, first.snapshot);
      assert.equal(current.routes[7]!.upstreamLabel, 'http://127.0.0.1:2');
      assert.equal(
        current.routes[8]!.pipeline,
        first.snapshot.routes[8]!.pipeline,
        'an unchanged route reused',
      );

      writeFileSync(file, routes(200, '2').replace('path: /r9,', 'path: r9,'));
      const failed = await reloader.reload('test');
      assert.equal(failed.status, 'failed');
      assert.equal(holder.current, current, 'the current snapshot keeps serving');
      assert.ok(
        failed.status === 'failed' && /gateway\.yaml:11:\d+ routes\[9\]\.path/.test(failed.errors[0]!),
        String(failed.status === 'failed' && failed.errors),
      );
      assert.deepEqual(
        lines.map((l) => l.event),
        ['config_reloaded', 'config_reload_failed'],
      );
      assert.equal(typeof lines[0]!.compile_ms, 'number');
    } finally {
      reloader.close();
      await holder.close();
    }
    assert.equal(deps.resources.size, 0);
  });
});
