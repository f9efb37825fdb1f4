// `npm run soak`: Portico under steady load for SOAK_MINUTES (default 10), reloaded every minute, with its
// memory (RSS of every process) and open file descriptors sampled every 30 s. A leak shows as growth from
// the second quarter of the run to the last; the verdict says whether both stayed flat. The traffic mixes a
// plain route, a rate-limited one whose key rotates over 200,000 clients (the key table grows, then is
// swept), a cached route, and a share of 404s and 429s. Default: 2 workers (the shared rate-limit store
// through the primary); SOAK_WORKERS=1 soaks a single process.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, ManagedProcess, readPortLine, stopAll, waitForHttp } from './child-processes.js';
import { processTree } from './cpu-usage.js';
import { runLoad, detectLoadGenerator } from './load-generator.js';
import { freePort } from './subjects.js';
import { machineLine } from './system-info.js';

const EXT = path.extname(fileURLToPath(import.meta.url));
const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const WORKERS = Number(process.env.SOAK_WORKERS ?? 2);
const SAMPLE_S = 30;
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
/** Growth from the second quarter to the last that still counts as flat. */
const RSS_TOLERANCE = 0.1;
const FD_TOLERANCE = 5;

const ROTATE_LUA = `
local n = 0
request = function()
  n = n + 1
  local k = n % 10
  if k < 5 then
    return wrk.format("GET", "/limited/" .. n, { ["X-Client"] = "c" .. (n % 200000) })
  elseif k < 8 then
    return wrk.format("GET", "/cached/" .. (n % 500))
  elseif k < 9 then
    return wrk.format("GET", "/plain")
  else
    return wrk.format("GET", "/missing")
  end
end
`;

function config(port: number, upstream: number, admin: number): string {
  return `gateway:
  listen: "127.0.0.1:${port}"
  workers: ${WORKERS}
  admin: { listen: "127.0.0.1:${admin}" }
  reload: { watch: false }
  access_log: { file: /dev/null }
  log_file: /dev/null
upstreams:
  up: { targets: [{ url: "http://127.0.0.1:${upstream}" }] }
routes:
  - name: limited
    path_prefix: /limited
    upstream: up
    rate_limit: { limit: 50, window_s: 10, key: "header:X-Client" }
  - name: cached
    path_prefix: /cached
    upstream: up
    cache: { ttl_s: 2 }
  - name: plain
    path: /plain
    upstream: up
`;
}

interface Sample {
  readonly minute: number;
  readonly rssMiB: number;
  readonly fds: number;
  readonly processes: number;
  readonly rps: number;
}

function measure(root: number): { rssMiB: number; fds: number; processes: number } {
  let rss = 0;
  let fds = 0;
  const pids = processTree(root);
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      rss += Number(m?.[1] ?? 0) / 1024;
      fds += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // gone
    }
  }
  return { rssMiB: rss, fds, processes: pids.length };
}

async function main(): Promise<void> {
  if (findExecutable('wrk') === null) throw new Error('npm run soak needs wrk (apt-get install wrk)');
  const tmp = mkdtempSync(path.join(tmpdir(), 'portico-soak-'));
  try {
    const gen = detectLoadGenerator('wrk', tmp);
    const lua = path.join(tmp, 'rotate.lua');
    writeFileSync(lua, ROTATE_LUA);
    const up = new ManagedProcess({
      name: 'upstream',
      command: process.execPath,
      args:
        EXT === '.ts'
          ? [...process.execArgv, fileURLToPath(new URL(`./upstream-server${EXT}`, import.meta.url))]
          : [fileURLToPath(new URL(`./upstream-server${EXT}`, import.meta.url))],
      cpu: null,
      tasksetPath: null,
      stdout: 'port',
      keepStdin: true,
    });
    const upPort = await readPortLine(up, 10_000);
    const port = await freePort();
    const adminPort = await freePort();
    const file = path.join(tmp, 'gateway.yaml');
    writeFileSync(file, config(port, upPort, adminPort));
    const cli = fileURLToPath(new URL(`../src/cli/main${EXT}`, import.meta.url));
    const gw = new ManagedProcess({
      name: 'portico',
      command: process.execPath,
      args: [...(EXT === '.ts' ? process.execArgv : []), cli, 'serve', '-c', file],
      cpu: null,
      tasksetPath: null,
      stdout: 'ignore',
      keepStdin: false,
    });
    await waitForHttp(gw, port, 30_000);
    const samples: Sample[] = [];
    const segments = Math.max(1, Math.round((MINUTES * 60) / SAMPLE_S));
    let reloads = 0;
    let errors = 0;
    for (let i = 0; i < segments; i++) {
      // One reload a minute, half-way through a segment's traffic: a change of the cache's ttl.
      const reload =
        i % 2 === 1
          ? setTimeout(
              () => {
                writeFileSync(
                  file,
                  config(port, upPort, adminPort).replace('ttl_s: 2', `ttl_s: ${2 + (i % 4)}`),
                );
                process.kill(gw.pid, 'SIGHUP');
                reloads++;
              },
              (SAMPLE_S * 1000) / 2,
            )
          : undefined;
      const r = await runLoad(
        { ...gen, baseArgs: ['-s', lua] },
        {
          url: `http://127.0.0.1:${port}`,
          connections: CONNECTIONS,
          durationS: SAMPLE_S,
          headers: {},
          cpu: null,
          tasksetPath: null,
        },
      );
      clearTimeout(reload);
      errors += r.socketErrors;
      const m = measure(gw.pid);
      samples.push({ minute: ((i + 1) * SAMPLE_S) / 60, ...m, rps: r.requestsPerSecond });
      process.stderr.write(
        `${(((i + 1) * SAMPLE_S) / 60).toFixed(1)} min: ${r.requestsPerSecond.toFixed(0)} req/s, RSS ${m.rssMiB.toFixed(1)} MiB, ${m.fds} fds, ${m.processes} processes\n`,
      );
    }
    const q = Math.max(1, Math.floor(samples.length / 4));
    const avg = (xs: Sample[], f: (s: Sample) => number) => xs.reduce((a, s) => a + f(s), 0) / xs.length;
    const second = samples.slice(q, 2 * q);
    const last = samples.slice(samples.length - q);
    const rssGrowth = avg(last, (s) => s.rssMiB) / avg(second, (s) => s.rssMiB) - 1;
    const fdGrowth = avg(last, (s) => s.fds) - avg(second, (s) => s.fds);
    const flat = rssGrowth <= RSS_TOLERANCE && fdGrowth <= FD_TOLERANCE && errors === 0;
    const out = [
      `# Soak (${new Date().toISOString().slice(0, 10)})`,
      '',
      machineLine(),
      `${MINUTES} min, gateway.workers: ${WORKERS}, wrk with ${CONNECTIONS} connections (saturating), a reload every minute (${reloads} in all); RSS and open fds summed over every process of the gateway.`,
      '',
      '| minute | req/s | RSS MiB | open fds | processes |',
      '| --- | --- | --- | --- | --- |',
      ...samples.map(
        (s) =>
          `| ${s.minute.toFixed(1)} | ${s.rps.toFixed(0)} | ${s.rssMiB.toFixed(1)} | ${s.fds} | ${s.processes} |`,
      ),
      '',
      `RSS from the second quarter to the last: ${(rssGrowth * 100).toFixed(1)} % (flat if ≤ ${RSS_TOLERANCE * 100} %); open fds: ${fdGrowth >= 0 ? '+' : ''}${fdGrowth.toFixed(1)} (flat if ≤ ${FD_TOLERANCE}); socket errors: ${errors}.`,
      `Verdict: ${flat ? 'flat' : 'NOT flat — look for a leak'}.`,
    ].join('\n');
    process.stdout.write(out + '\n');
    mkdirSync('.bench', { recursive: true });
    writeFileSync(path.join('.bench', 'soak.md'), out + '\n');
    if (!flat) process.exitCode = 1;
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopAll();
  process.exit(1);
});
