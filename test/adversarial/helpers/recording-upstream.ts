// An upstream for the adversarial suite that records the EXACT bytes the gateway sent on every connection.
// node:http would normalize, join or refuse what it reads; this one is a node:net server that appends every
// received byte per connection and parses only enough to answer: the head up to CRLFCRLF, then a
// Content-Length or chunked body. Each complete request gets a small 200 whose body names the target, so a
// client can check the order of pipelined answers. Anything it cannot parse gets a 400 and a close.
import net, { type AddressInfo } from 'node:net';

export interface RecordedRequest {
  /** Index of the connection (in `connections`) that carried it. */
  readonly connection: number;
  /** The head exactly as received, without the final CRLFCRLF (latin1). */
  readonly head: string;
  /** First line of the head, e.g. `GET /api/x HTTP/1.1`. */
  readonly requestLine: string;
  readonly method: string;
  readonly target: string;
  readonly version: string;
  /** Flat [name, value, ...] as received (name untouched, value without surrounding OWS). */
  readonly headers: readonly string[];
  readonly framing: 'none' | 'content-length' | 'chunked';
  /** The body received so far (chunked bodies de-chunked). */
  body: Buffer;
  /** True once the whole message (body included) arrived. */
  complete: boolean;
}

export interface RecordedConnection {
  readonly id: number;
  /** Every byte received on this connection, in order. */
  readonly chunks: Buffer[];
  /** Set when the bytes could not be parsed as HTTP/1.1 requests. */
  parseError: string | undefined;
  closed: boolean;
}

export interface RecordingUpstream {
  readonly url: string;
  readonly port: number;
  readonly connections: readonly RecordedConnection[];
  /** Every request head parsed, in arrival order (including ones whose body never completed). */
  readonly requests: readonly RecordedRequest[];
  /** Total bytes received over all connections so far. */
  byteCount(): number;
  /** The bytes of one connection (latin1). */
  connectionText(id: number): string;
  /** Every byte received, all connections, latin1; connections separated by a blank line. */
  allText(): string;
  /** Per-connection byte counts now, for `textSince`. */
  mark(): UpstreamMark;
  /** Bytes received after `m` was taken, latin1, per connection joined by a blank line. */
  textSince(m: UpstreamMark): string;
  close(): Promise<void>;
}

/** Per-connection byte offsets at one instant. */
export type UpstreamMark = readonly number[];

const CRLF = Buffer.from('\r\n');
const CRLF_CRLF = Buffer.from('\r\n\r\n');
/** Refuse heads longer than this (the gateway never sends one). */
const MAX_HEAD = 256 * 1024;

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const connections: RecordedConnection[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    const conn: RecordedConnection = {
      id: connections.length,
      chunks: [],
      parseError: undefined,
      closed: false,
    };
    connections.push(conn);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
    const parser = new RequestParser(conn.id, (r) => requests.push(r), respond, fail);
    socket.on('data', (d: Buffer) => {
      conn.chunks.push(d);
      parser.feed(d);
    });

    function respond(r: RecordedRequest): void {
      if (!socket.writable) return;
      const body = `seen ${r.method} ${r.target}`;
      socket.write(
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n' +
          `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`,
        'latin1',
      );
      const connectionHeader = valuesOf(r.headers, 'connection').join(',').toLowerCase();
      if (connectionHeader.includes('close')) socket.end();
    }
    function fail(reason: string): void {
      conn.parseError = reason;
      if (!socket.writable) return;
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const textOf = (c: RecordedConnection, from = 0) =>
    Buffer.concat(c.chunks).subarray(from).toString('latin1');
  const sizeOf = (c: RecordedConnection) => c.chunks.reduce((n, b) => n + b.length, 0);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections,
    requests,
    byteCount: () => connections.reduce((n, c) => n + sizeOf(c), 0),
    connectionText: (id) => textOf(connections[id]!),
    allText: () => connections.map((c) => textOf(c)).join('\r\n\r\n'),
    mark: () => connections.map(sizeOf),
    textSince: (m) =>
      connections
        .map((c, i) => textOf(c, m[i] ?? 0))
        .filter((t) => t !== '')
        .join('\r\n\r\n'),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** Values of a header (case-insensitive name) in a flat list. */
function valuesOf(flat: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) out.push(flat[i + 1]!);
  return out;
}

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-data-end' | 'trailers' | 'failed';

/** Incremental parser for one connection: just enough HTTP/1.1 to find where each request ends. */
class RequestParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: State = 'head';
  private remaining = 0;
  private current: RecordedRequest | undefined;

  constructor(
    private readonly connection: number,
    private readonly onHead: (r: RecordedRequest) => void,
    private readonly onComplete: (r: RecordedRequest) => void,
    private readonly onError: (reason: string) => void,
  ) {}

  feed(chunk: Buffer): void {
    if (this.state === 'failed') return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const progressed = this.step();
      if (!progressed) return;
    }
  }

  /** One parsing step; false when more bytes are needed (or parsing stopped). */
  private step(): boolean {
    switch (this.state) {
      case 'failed':
        return false;
      case 'head': {
        // Tolerate empty lines between messages, as RFC 9112 2.2 allows.
        while (this.buf.length >= 2 && this.buf[0] === 13 && this.buf[1] === 10)
          this.buf = this.buf.subarray(2);
        if (this.buf.length === 0) return false;
        const end = this.buf.indexOf(CRLF_CRLF);
        if (end === -1) {
          if (this.buf.length > MAX_HEAD) this.fail('head too long');
          return false;
        }
        const head = this.buf.toString('latin1', 0, end);
        this.buf = this.buf.subarray(end + 4);
        return this.startRequest(head);
      }
      case 'body': {
        if (this.buf.length === 0) return false;
        const n = Math.min(this.remaining, this.buf.length);
        this.appendBody(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) this.finish();
        return true;
      }
      case 'chunk-size': {
        const end = this.buf.indexOf(CRLF);
        if (end === -1) return false;
        const line = this.buf.toString('latin1', 0, end);
        this.buf = this.buf.subarray(end + 2);
        const m = /^([0-9A-Fa-f]{1,12})(;.*)?$/.exec(line);
        if (!m) {
          this.fail(`bad chunk size ${JSON.stringify(line)}`);
          return false;
        }
        const size = parseInt(m[1]!, 16);
        if (size === 0) this.state = 'trailers';
        else {
          this.remaining = size;
          this.state = 'chunk-data';
        }
        return true;
      }
      case 'chunk-data': {
        if (this.buf.length === 0) return false;
        const n = Math.min(this.remaining, this.buf.length);
        this.appendBody(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'chunk-data-end';
        return true;
      }
      case 'chunk-data-end': {
        if (this.buf.length < 2) return false;
        if (this.buf[0] !== 13 || this.buf[1] !== 10) {
          this.fail('missing CRLF after chunk data');
          return false;
        }
        this.buf = this.buf.subarray(2);
        this.state = 'chunk-size';
        return true;
      }
      case 'trailers': {
        const end = this.buf.indexOf(CRLF);
        if (end === -1) return false;
        this.buf = this.buf.subarray(end + 2);
        if (end === 0) this.finish();
        return true;
      }
    }
  }

  private startRequest(head: string): boolean {
    const lines = head.split('\r\n');
    const requestLine = lines[0]!;
    const parts = requestLine.split(' ');
    if (parts.length !== 3) {
      this.fail(`bad request line ${JSON.stringify(requestLine)}`);
      return false;
    }
    const headers: string[] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) {
        this.fail(`bad header line ${JSON.stringify(line)}`);
        return false;
      }
      headers.push(line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ''));
    }
    const te = valuesOf(headers, 'transfer-encoding');
    const cl = valuesOf(headers, 'content-length');
    let framing: RecordedRequest['framing'] = 'none';
    let length = 0;
    if (te.length > 0) {
      if (te.join(',').trim().toLowerCase() !== 'chunked' || cl.length > 0) {
        this.fail(`framing the gateway must never send: TE ${JSON.stringify(te)} CL ${JSON.stringify(cl)}`);
        return false;
      }
      framing = 'chunked';
    } else if (cl.length > 0) {
      if (cl.length !== 1 || !/^[0-9]+$/.test(cl[0]!)) {
        this.fail(`bad Content-Length ${JSON.stringify(cl)}`);
        return false;
      }
      length = Number(cl[0]);
      framing = 'content-length';
    }
    const r: RecordedRequest = {
      connection: this.connection,
      head,
      requestLine,
      method: parts[0]!,
      target: parts[1]!,
      version: parts[2]!,
      headers,
      framing,
      body: Buffer.alloc(0),
      complete: false,
    };
    this.current = r;
    this.onHead(r);
    if (framing === 'chunked') this.state = 'chunk-size';
    else if (length > 0) {
      this.remaining = length;
      this.state = 'body';
    } else this.finish();
    return true;
  }

  private appendBody(b: Buffer): void {
    const r = this.current!;
    r.body = Buffer.concat([r.body, b]);
  }

  private finish(): void {
    const r = this.current!;
    r.complete = true;
    this.current = undefined;
    this.state = 'head';
    this.onComplete(r);
  }

  private fail(reason: string): void {
    this.state = 'failed';
    this.onError(reason);
  }
}
