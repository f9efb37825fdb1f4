// What the request-line guard costs a bare node:http server, per request, by the way it reads the bytes:
// none (no guard), `parser` (reads each chunk from Node's parser, the shipped way) and `data` (the fallback:
// a prepended `data` listener, which takes the socket off the C++ consume path), plus `copy` (the parser's
// per-read copy alone, no guard). Each server is pinned to the last CPU, the load generator to CPU 0, and
// the modes are measured in interleaved rounds; the figure is the median of each mode's paired difference
// from `none`. Run (after `npm run build`):
//   node dist/bench/guard-intake.js [rounds=10] [seconds=3]
import http from 'node:http';
import os from 'node:os';
import type { Socket } from 'node:net';
import { cpuMicrosPerRequest, readCpuTicks } from './cpu-usage.js';
import { findExecutable, ManagedProcess, readPortLine, stopAll, waitForHttp } from './child-processes.js';
import { detectLoadGenerator, runLoad } from './load-generator.js';
import { guardConnection, guardOf } from '../src/http/request-line-guard.js';

const MODES = ['none', 'parser', 'data', 'copy'] as const;
type Mode = (typeof MODES)[number];

/** The child: a server answering every request from memory, with the guard set up the `mode` way. */
function serve(mode: Mode): void {
  let copied = 0;
  const server = http.createServer((req, res) => {
    if (guardOf(req.socket)?.take(req.url ?? '') === 'malformed') res.statusCode = 400;
    res.end('hello\n');
  });
  server.on('connection', (socket: Socket) => {
    if (mode === 'none') return;
    if (mode === 'copy') {
      const parser = (socket as Socket & { parser: Record<number, unknown> & { getCurrentBuffer(): Buffer } })
        .parser;
      const slot = (parser.constructor as unknown as { kOnExecute: number }).kOnExecute;
      const onExecute = parser[slot] as (this: unknown, ...a: unknown[]) => unknown;
      parser[slot] = function (this: unknown, ret: unknown, d: unknown): unknown {
        copied += parser.getCurrentBuffer().length;
        return onExecute.call(this, ret, d);
      };
      return;
    }
    // A `data` listener hands the socket back to the JS stream, so the guard falls back to one of its own.
    if (mode === 'data') socket.on('data', () => undefined);
    guardConnection(socket, 16_384, () => 1_000_000);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`);
  });
  process.stdin.on('end', () => process.exit(copied >= 0 ? 0 : 1));
  process.stdin.resume();
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 10);
  const seconds = Number(process.argv[3] ?? 3);
  const taskset = findExecutable('taskset');
  const serverCpu = os.availableParallelism() > 1 ? os.availableParallelism() - 1 : null;
  const gen = detectLoadGenerator('auto', os.tmpdir());
  const servers = new Map<Mode, { proc: ManagedProcess; port: number }>();
  try {
    for (const mode of MODES) {
      const proc = new ManagedProcess({
        name: `guard-${mode}`,
        command: process.execPath,
        args: [process.argv[1]!, '--serve', mode],
        cpu: serverCpu,
        tasksetPath: taskset,
        stdout: 'port',
        keepStdin: true,
      });
      const port = await readPortLine(proc, 10_000);
      await waitForHttp(proc, port, 10_000);
      servers.set(mode, { proc, port });
    }
    const load = (port: number, durationS: number) =>
      runLoad(gen, {
        url: `http://127.0.0.1:${port}/`,
        connections: 50,
        durationS,
        headers: {},
        cpu: serverCpu === null ? null : 0,
        tasksetPath: taskset,
      });
    for (const { port } of servers.values()) await load(port, 2);
    const perMode = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
    for (let r = 0; r < rounds; r++) {
      for (const mode of MODES) {
        const { proc, port } = servers.get(mode)!;
        const before = readCpuTicks(proc.pid);
        const result = await load(port, seconds);
        perMode.get(mode)!.push(cpuMicrosPerRequest(readCpuTicks(proc.pid) - before, result.requests));
      }
    }
    const none = perMode.get('none')!;
    console.log(`${gen.description}; ${rounds} rounds of ${seconds} s; server on CPU ${serverCpu ?? 'any'}`);
    console.log('mode     CPU µs/req (median)   paired vs none (median, min..max)');
    for (const mode of MODES) {
      const v = perMode.get(mode)!;
      const d = v.map((x, i) => x - none[i]!);
      const range = `${Math.min(...d).toFixed(1)}..${Math.max(...d).toFixed(1)}`;
      console.log(
        `${mode.padEnd(8)} ${median(v).toFixed(1).padStart(8)}   ${median(d).toFixed(1).padStart(20)}  ${range}`,
      );
    }
  } finally {
    await stopAll();
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1) serve(process.argv[serveAt + 1] as Mode);
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
