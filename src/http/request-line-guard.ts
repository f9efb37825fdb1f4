// A strict reading of each request line, which Node's parser would auto-correct. llhttp accepts
// "GET  /x HTTP/1.1" (doubled spaces) and a few other spellings a peer behind or in front of the gateway may
// read differently; Node does not show the request line itself. So the guard reads a connection's bytes too,
// follows the message framing just far enough to find where each request head starts (Content-Length and
// chunked bodies), and records one verdict per head, in order. The server takes one verdict per request the
// parser hands over and refuses a request whose line was malformed — or whose verdict it cannot match, which
// also covers the guard losing track of framing it does not follow (it then refuses everything that follows
// on the connection). The guard also carries the connection's "refuse the rest" mark, set when a request was
// refused with its framing in doubt. The parser stays the judge of everything else (header syntax, framing
// errors).
//
// How the guard sees the bytes. Node's server hands a plain TCP socket's reads straight to its C++ parser
// ("consumed"), and a `data` listener on the socket would undo that: every read would then climb through the
// JS stream machinery first, about 5 µs of CPU per request. So on a consumed socket the guard reads each
// chunk from the parser itself: at the first head the parser completes in a read (kOnHeadersComplete, just
// before Node emits the request), the guard is fed the whole chunk, so the verdict is there when the server
// asks for it; a read that completes no head is fed once the parser is done with it (kOnExecute). Where
// Node's internals are not as expected, or the socket is not consumed, the guard falls back to a prepended
// `data` listener, which sees each chunk before the parser does.
import type { Socket } from 'node:net';

/** Verdict for a well-formed line: the length of its request target (checked against the parser's). */
type Verdict = number;
/** The request line did not have the form `METHOD SP request-target SP HTTP/d.d`. */
const MALFORMED = -1;
/** The guard lost track of the framing (an unsupported transfer coding, an over-long head…). */
const LOST = -2;

/** Where the guard is in the connection's byte stream. */
const State = {
  Head: 0,
  Body: 1,
  ChunkSize: 2,
  ChunkData: 3,
  ChunkDataEnd: 4,
  Trailers: 5,
  Lost: 6,
} as const;
type State = (typeof State)[keyof typeof State];

/** Strict request line: an upper-case token method, one space, a target without whitespace, one space, a version. */
const REQUEST_LINE = /^[A-Z]+ [!-~]+ HTTP\/[0-9]\.[0-9]$/;

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

export type GuardVerdict = 'ok' | 'malformed' | 'unverified';

const GUARD = Symbol('portico.requestLineGuard');
type GuardedSocket = Socket & { [GUARD]?: RequestLineGuard };

/** The parts of Node's internal HTTP parser the guard uses (see the file's comment). */
interface NodeParser {
  [slot: number]: unknown;
  [ORIGINAL_ON_HEADERS_COMPLETE]?: Fn;
  socket?: GuardedSocket | null;
  _consumed?: boolean;
  getCurrentBuffer?: () => Buffer;
  constructor: { kOnExecute?: unknown; kOnHeadersComplete?: unknown };
}
type ParsedSocket = GuardedSocket & { parser?: NodeParser | null };
type Fn = (this: unknown, ...args: unknown[]) => unknown;

const ORIGINAL_ON_HEADERS_COMPLETE = Symbol('portico.onHeadersComplete');

/**
 * Puts a guard on a new connection (the server's `connection` listener, which runs after Node's own has set
 * up the parser).
 */
export function guardConnection(socket: Socket, maxHeadBytes: number, maxBodyBytes: () => number): void {
  const guard = new RequestLineGuard(maxHeadBytes, maxBodyBytes);
  (socket as GuardedSocket)[GUARD] = guard;
  if (!followParser(socket as ParsedSocket, guard)) socket.prependListener('data', guard.onData);
}

/** Feeds the guard each chunk the parser reads (see the file's comment); false when that is not possible. */
function followParser(socket: ParsedSocket, guard: RequestLineGuard): boolean {
  const parser = socket.parser;
  if (parser == null || parser._consumed !== true || typeof parser.getCurrentBuffer !== 'function')
    return false;
  const { kOnExecute, kOnHeadersComplete } = parser.constructor;
  if (typeof kOnExecute !== 'number' || typeof kOnHeadersComplete !== 'number') return false;
  const onExecute = parser[kOnExecute];
  if (typeof onExecute !== 'function') return false;
  // Node pools its parsers and sets this callback once per parser, not per connection: the stand-in finds
  // the connection's guard through the parser, so it is installed once and never stacks.
  if (parser[kOnHeadersComplete] !== guardedOnHeadersComplete) {
    const original = parser[kOnHeadersComplete];
    if (typeof original !== 'function') return false;
    parser[ORIGINAL_ON_HEADERS_COMPLETE] = original as Fn;
    parser[kOnHeadersComplete] = guardedOnHeadersComplete;
  }
  guard.following = true;
  // Set by Node per connection (and cleared when the parser goes back to the pool).
  parser[kOnExecute] = function guardedOnExecute(this: unknown, ret: unknown, d: unknown): unknown {
    guard.afterRead(parser);
    return (onExecute as Fn).call(this, ret, d);
  };
  return true;
}

/** Node calls this with up to nine arguments; named ones spare an arguments array per request. */
function guardedOnHeadersComplete(
  this: NodeParser,
  a: unknown,
  b: unknown,
  c: unknown,
  d: unknown,
  e: unknown,
  f: unknown,
  g: unknown,
  h: unknown,
  i: unknown,
): unknown {
  const guard = this.socket?.[GUARD];
  if (guard?.following === true) guard.atHead(this);
  return this[ORIGINAL_ON_HEADERS_COMPLETE]!.call(this, a, b, c, d, e, f, g, h, i);
}

/** The connection's guard (undefined for sockets the server did not accept itself). */
export function guardOf(socket: Socket): RequestLineGuard | undefined {
  return (socket as GuardedSocket)[GUARD];
}

export class RequestLineGuard {
  /**
   * Set once a request on the connection was refused where framing is in doubt: every request the parser
   * still produces from bytes already read (pipelined behind it) is dropped, never answered or forwarded.
   */
  refusingRest = false;
  /** The guard reads the chunks from the parser (else from a `data` listener). */
  following = false;
  /** Following the parser: the chunk the parser is executing has been fed. */
  private fed = false;
  private state: State = State.Head;
  /** Bytes of a head (or chunk-size/trailer line) that did not end in the chunk that carried them. */
  private pending: Buffer | null = null;
  /** Body or chunk bytes still to skip. */
  private remaining = 0;
  /** Chunked body bytes announced so far in the current message, and the limit they may reach. */
  private chunkedSeen = 0;
  private bodyLimit = Infinity;
  private readonly verdicts: Verdict[] = [];

  /**
   * `maxBodyBytes` is read at every head (it follows reloads): a body past it is refused by the intake, and
   * the guard stops there, so a request pipelined behind an over-long chunked body is never processed —
   * the parser reads that body and the next head before the intake has counted a single byte of it.
   */
  constructor(
    private readonly maxHeadBytes: number,
    private readonly maxBodyBytes: () => number = unlimited,
  ) {}

  /** The socket's `data` listener in the fallback (prepended, so it sees each chunk before the parser does). */
  readonly onData = (chunk: Buffer): void => {
    this.feed(chunk);
  };

  /** Following the parser: it completed a head; the first in a read feeds the read's whole chunk. */
  atHead(parser: NodeParser): void {
    if (this.fed) return;
    this.fed = true;
    // Handed back to the JS stream (something listens for `data`): reads were missed, so nothing is trusted.
    if (parser._consumed !== true) return this.lose();
    this.feed(parser.getCurrentBuffer!());
  }

  /** Following the parser: it is done with a read; a read that completed no head is fed now. */
  afterRead(parser: NodeParser): void {
    if (!this.fed) this.feed(parser.getCurrentBuffer!());
    this.fed = false;
  }

  /** From now on nothing more on this connection is processed (the refusal's answer closes it). */
  refuseRest(): void {
    this.refusingRest = true;
    this.state = State.Lost;
    this.pending = null;
  }

  /** The verdict for the next request the parser produced, given its target. */
  take(target: string): GuardVerdict {
    if (this.verdicts.length === 0) return 'unverified';
    const v = this.verdicts.shift()!;
    if (v === MALFORMED) return 'malformed';
    if (v === LOST || v !== target.length) return 'unverified';
    return 'ok';
  }

  feed(chunk: Buffer): void {
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case State.Head: {
          // RFC 9112 2.2: empty lines before a request line are ignored (the parser does the same).
          while (at + 1 < data.length && data[at] === 13 && data[at + 1] === 10) at += 2;
          if (at >= data.length) return;
          const end = data.indexOf(CRLF_CRLF, at);
          if (end === -1) return this.keep(data, at);
          at = this.head(data, at, end);
          break;
        }
        case State.Body: {
          const n = Math.min(this.remaining, data.length - at);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.Head;
          break;
        }
        case State.ChunkSize: {
          const end = data.indexOf(CRLF, at);
          if (end === -1) return this.keep(data, at);
          const size = chunkSize(data, at, end);
          if (size < 0) return this.lose();
          this.chunkedSeen += size;
          if (this.chunkedSeen > this.bodyLimit) return this.lose();
          at = end + 2;
          if (size === 0) this.state = State.Trailers;
          else {
            this.remaining = size;
            this.state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, data.length - at);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        }
        case State.ChunkDataEnd: {
          if (data.length - at < 2) return this.keep(data, at);
          if (data[at] !== 13 || data[at + 1] !== 10) return this.lose();
          at += 2;
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const end = data.indexOf(CRLF, at);
          if (end === -1) return this.keep(data, at);
          // An empty line ends the trailer section (and the message); other lines are trailer fields.
          if (end === at) this.state = State.Head;
          at = end + 2;
          break;
        }
        case State.Lost:
          return;
      }
    }
  }

  /** Judges the head in data[start, end) (end: its CRLFCRLF) and sets up the body; returns the next offset. */
  private head(data: Buffer, start: number, end: number): number {
    if (end - start > this.maxHeadBytes) {
      this.lose();
      return data.length;
    }
    const text = data.toString('latin1', start, end);
    const lineEnd = text.indexOf('\r\n');
    const line = lineEnd === -1 ? text : text.slice(0, lineEnd);
    if (!REQUEST_LINE.test(line)) {
      // The parser will refuse or misread this request; nothing after it on the connection is trusted.
      this.verdicts.push(MALFORMED);
      this.state = State.Lost;
      return data.length;
    }
    const sp = line.indexOf(' ');
    this.verdicts.push(line.lastIndexOf(' ') - sp - 1);
    let length = 0;
    let chunked = false;
    if (lineEnd !== -1) {
      const framing = bodyFraming(text, lineEnd);
      if (framing === LOST) {
        this.lose();
        return data.length;
      }
      if (framing === CHUNKED) chunked = true;
      else length = framing;
    }
    this.bodyLimit = this.maxBodyBytes();
    if (length > this.bodyLimit) {
      this.lose();
      return data.length;
    }
    if (chunked) {
      this.chunkedSeen = 0;
      this.state = State.ChunkSize;
    } else if (length > 0) {
      this.remaining = length;
      this.state = State.Body;
    }
    return end + 4;
  }

  private keep(data: Buffer, from: number): void {
    const rest = data.length - from;
    // A head or line this long is refused by the parser (431 / 400); stop following the connection.
    if (rest > this.maxHeadBytes + 1024) return this.lose();
    this.pending = Buffer.from(data.subarray(from));
  }

  private lose(): void {
    this.state = State.Lost;
    this.pending = null;
    this.verdicts.push(LOST);
  }
}

const CHUNKED = -3;

function unlimited(): number {
  return Infinity;
}

/** Content-Length of the head's headers, CHUNKED, or LOST for framing the guard does not follow. */
function bodyFraming(text: string, from: number): number {
  let length = 0;
  let te: string | undefined;
  let at = from + 2;
  while (at < text.length) {
    let eol = text.indexOf('\r\n', at);
    if (eol === -1) eol = text.length;
    const colon = text.indexOf(':', at);
    if (colon !== -1 && colon < eol) {
      const nameLength = colon - at;
      if (nameLength === 14 || nameLength === 17) {
        const name = text.slice(at, colon).toLowerCase();
        const value = text.slice(colon + 1, eol).trim();
        if (name === 'content-length') {
          if (!/^[0-9]{1,15}$/.test(value)) return LOST;
          length = Number(value);
        } else if (name === 'transfer-encoding') te = te === undefined ? value : te + ',' + value;
      }
    }
    at = eol + 2;
  }
  if (te !== undefined) return te.toLowerCase() === 'chunked' ? CHUNKED : LOST;
  return length;
}

/** The size of a chunk-size line (extensions after ";" ignored), or -1 when it is not one. */
function chunkSize(data: Buffer, start: number, end: number): number {
  let size = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = data[i]!;
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 65 && c <= 70) v = c - 55;
    else if (c >= 97 && c <= 102) v = c - 87;
    else if (c === 59 /* ; */ && digits > 0) return size;
    else return -1;
    // More than 12 hex digits is beyond any body limit; the parser refuses such sizes too.
    if (++digits > 12) return -1;
    size = size * 16 + v;
  }
  return digits === 0 ? -1 : size;
}
