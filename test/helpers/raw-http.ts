// A raw TCP client for requests node's own clients refuse to send (ambiguous framing, duplicate Host,
// pipelining, slow headers): writes bytes, collects everything until the server closes or a timeout.
import net from 'node:net';

export interface RawResult {
  /** Everything the server sent. */
  readonly text: string;
  /** True when the server closed the connection (rather than the timeout firing). */
  readonly closedByServer: boolean;
  /** ms from connect to close/timeout. */
  readonly elapsedMs: number;
}

export function rawRequest(
  port: number,
  payload: string | Buffer | (string | Buffer)[],
  opts: { timeoutMs?: number; delayBetweenMs?: number } = {},
): Promise<RawResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        text: Buffer.concat(chunks).toString('latin1'),
        closedByServer,
        elapsedMs: Date.now() - started,
      });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err) => (chunks.length > 0 ? finish(true) : settled ? undefined : reject(err)));
    socket.on('connect', () => {
      const parts = Array.isArray(payload) ? payload : [payload];
      let i = 0;
      const writeNext = () => {
        if (i >= parts.length || socket.destroyed) return;
        socket.write(parts[i++]!);
        if (i < parts.length) setTimeout(writeNext, opts.delayBetweenMs ?? 0);
      };
      writeNext();
    });
  });
}

/** Status codes of every HTTP response found in a raw byte stream, in order. */
export function statusCodes(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}
