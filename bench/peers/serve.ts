// What every peer proxy process shares with bench/baseline-proxy.ts: the upstream origin from argv, the port
// line on stdout once listening, and exiting when the harness's stdin pipe closes or on SIGTERM.
import type { Server } from 'node:http';

/** The upstream origin (argv[2]); exits with usage when it is missing. */
export function upstreamOrigin(name: string): string {
  const origin = process.argv[2];
  if (origin === undefined) {
    process.stderr.write(`usage: ${name} <upstream origin, e.g. http://127.0.0.1:8080>\n`);
    process.exit(2);
  }
  return origin;
}

/** Prints the port `server` listens on as the first stdout line (what the harness's readPortLine expects). */
export function announcePort(server: Server, name: string): void {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`${name}: unexpected address`);
  process.stdout.write(`${address.port}\n`);
}

/** The harness keeps our stdin open; when it goes away (even if it was killed), so do we. */
export function exitWithHarness(): void {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
}
