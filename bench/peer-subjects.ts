// Starts the peer proxies (bench/peers/): other ways to proxy the same route, measured like the baseline.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PeerId } from './bench-options.js';
import { nginxMissingReason, nginxPath, startNginx } from './peers/nginx.js';
import type { ScenarioResult } from './report.js';
import { freePort, startOwnServer, type RunContext, type Subject } from './subjects.js';

/** Row labels; the installed versions are added when the peer starts. */
export const PEER_LABELS: Record<PeerId, string> = {
  nginx: 'nginx reverse proxy (1 process, upstream keep-alive)',
  'fast-gateway': 'fast-gateway',
  'fastify-http-proxy': '@fastify/http-proxy',
  'http-proxy': 'http-proxy (node:http + keep-alive agent)',
};

/** Version of an installed npm package (walks up from its entry point to its package.json), or '?'. */
export function packageVersion(name: string): string {
  try {
    let dir = path.dirname(createRequire(import.meta.url).resolve(name));
    for (;;) {
      const file = path.join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? '?';
      }
      const parent = path.dirname(dir);
      if (parent === dir) return '?';
      dir = parent;
    }
  } catch {
    return '?';
  }
}

function nginxVersion(exe: string): string {
  // nginx -v prints "nginx version: nginx/1.22.1" on stderr.
  const run = spawnSync(exe, ['-v'], { encoding: 'utf8', timeout: 5000 });
  return /nginx\/(\S+)/.exec(`${run.stderr ?? ''}${run.stdout ?? ''}`)?.[1] ?? '?';
}

/** The label with the installed versions, e.g. "fast-gateway 3.4.7". */
function versionedLabel(id: PeerId): string {
  switch (id) {
    case 'nginx': {
      const exe = nginxPath();
      return exe === null
        ? PEER_LABELS[id]
        : `nginx ${nginxVersion(exe)} reverse proxy (1 process, upstream keep-alive)`;
    }
    case 'fast-gateway':
      return `fast-gateway ${packageVersion('fast-gateway')}`;
    case 'fastify-http-proxy':
      return `@fastify/http-proxy ${packageVersion('@fastify/http-proxy')} (fastify ${packageVersion('fastify')})`;
    case 'http-proxy':
      return `http-proxy ${packageVersion('http-proxy')} (node:http + keep-alive agent)`;
  }
}

function withoutProcess(result: ScenarioResult, kind: 'pending' | 'failed', reason: string): Subject {
  result.unavailable = { kind, reason };
  if (kind === 'failed') process.stderr.write(`${result.id}: ${reason}\n`);
  return { result, proc: null, port: 0, path: '/', headers: {}, measureCpu: true };
}

/**
 * Starts one peer on the proxy CPU, pointed at the upstream; `GET /` like the baseline, no extra headers.
 * nginx missing: `pending`; a peer that does not start: `failed` (with its stderr), and the run goes on.
 */
export async function startPeer(ctx: RunContext, id: PeerId, upstreamPort: number): Promise<Subject> {
  const result: ScenarioResult = {
    id,
    label: versionedLabel(id),
    measurements: [],
    fixedRate: [],
    unavailable: null,
  };
  try {
    if (id === 'nginx') {
      const missing = nginxMissingReason();
      if (missing !== null) return withoutProcess(result, 'pending', missing);
      const port = await freePort();
      const { proc, note } = await startNginx({
        dir: path.join(ctx.tmpDir, 'nginx'),
        port,
        upstreamPort,
        cpu: ctx.pinning.proxyCpu,
        tasksetPath: ctx.pinning.tasksetPath,
        readyTimeoutMs: ctx.readyTimeoutMs,
      });
      ctx.notes.push(note);
      return { result, proc, port, path: '/', headers: {}, measureCpu: true };
    }
    const origin = `http://127.0.0.1:${upstreamPort}`;
    const { proc, port } = await startOwnServer(ctx, id, `peers/${id}`, [origin], ctx.pinning.proxyCpu);
    return { result, proc, port, path: '/', headers: {}, measureCpu: true };
  } catch (err: unknown) {
    return withoutProcess(
      result,
      'failed',
      `did not start: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
