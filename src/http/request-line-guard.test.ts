// The request-line guard must find every request head in a connection's bytes however they are split into
// reads (bodies by Content-Length and chunked included), accept every well-formed line and flag the
// malformed ones — a lost or misplaced verdict would refuse good requests or pass bad ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RequestLineGuard } from './request-line-guard.js';

interface Req {
  readonly method: string;
  readonly target: string;
  readonly bytes: string;
}

function get(target: string): Req {
  return { method: 'GET', target, bytes: `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n` };
}

function post(target: string, body: string): Req {
  return {
    method: 'POST',
    target,
    bytes: `POST ${target} HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  };
}

function chunked(target: string, chunks: readonly string[], trailer = ''): Req {
  let body = '';
  for (const c of chunks) body += `${c.length.toString(16)};ext=1\r\n${c}\r\n`;
  body += `0\r\n${trailer}\r\n`;
  return {
    method: 'POST',
    target,
    bytes: `POST ${target} HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n${body}`,
  };
}

/** Feeds the bytes split at the given offsets. */
function feed(guard: RequestLineGuard, bytes: string, cuts: readonly number[] = []): void {
  const buf = Buffer.from(bytes, 'latin1');
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= at || cut >= buf.length) continue;
    guard.feed(buf.subarray(at, cut));
    at = cut;
  }
  guard.feed(buf.subarray(at));
}

describe('RequestLineGuard', () => {
  it('accepts a pipelined mix of GET, Content-Length and chunked requests, one verdict each', () => {
    const reqs = [
      get('/a'),
      post('/b', 'GET /smuggled HTTP/1.1\r\n\r\n'),
      chunked('/c', ['hello', 'GET /x HTTP/1.1\r\n\r\n'], 'X-Trailer: 1\r\n'),
      get('/d?q=1'),
    ];
    const guard = new RequestLineGuard(16_384);
    feed(guard, reqs.map((r) => r.bytes).join(''));
    for (const r of reqs) assert.equal(guard.take(r.target), 'ok', r.target);
    assert.equal(guard.take('/e'), 'unverified', 'no verdict for a request that was not sent');
  });

  it('finds every head however the bytes are split (generated sequences and cuts)', () => {
    const body = fc.string({ maxLength: 40 });
    const request = fc.oneof(
      fc.webPath().map((p) => get('/' + p.replace(/^\/+/, '').replace(/[^!-~]/g, ''))),
      fc.tuple(fc.webPath(), body).map(([p, b]) => post('/p' + p.replace(/[^!-~]/g, ''), b)),
      fc
        .tuple(fc.webPath(), fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 4 }))
        .map(([p, cs]) => chunked('/c' + p.replace(/[^!-~]/g, ''), cs)),
    );
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(2000), { maxLength: 12 }),
        (reqs, cuts) => {
          const guard = new RequestLineGuard(16_384);
          feed(guard, reqs.map((r) => r.bytes).join(''), cuts);
          for (const r of reqs) assert.equal(guard.take(r.target), 'ok', r.target);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('ignores empty lines before a request line', () => {
    const guard = new RequestLineGuard(16_384);
    feed(guard, '\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(guard.take('/a'), 'ok');
  });

  const malformed: readonly (readonly [string, string])[] = [
    ['doubled space after the method', 'GET  /a HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['doubled space before the version', 'GET /a  HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a tab as separator', 'GET\t/a HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['no version (HTTP/0.9 form)', 'GET /a\r\nHost: a\r\n\r\n'],
    ['extra tokens', 'GET /a HTTP/1.1 x\r\nHost: a\r\n\r\n'],
    ['a lower-case method', 'get /a HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['an unknown protocol', 'GET /a FOO/1.1\r\nHost: a\r\n\r\n'],
    ['a trailing space', 'GET /a HTTP/1.1 \r\nHost: a\r\n\r\n'],
  ];
  for (const [what, bytes] of malformed) {
    it(`flags ${what}, and nothing after it on the connection is verified`, () => {
      const guard = new RequestLineGuard(16_384);
      feed(guard, get('/first').bytes + bytes + get('/after').bytes);
      assert.equal(guard.take('/first'), 'ok');
      assert.equal(guard.take('/a'), 'malformed');
      assert.equal(guard.take('/after'), 'unverified');
    });
  }

  it('a verdict for another target than the parser saw is not a pass', () => {
    const guard = new RequestLineGuard(16_384);
    feed(guard, get('/a').bytes);
    assert.equal(guard.take('/longer-target'), 'unverified');
  });

  it('stops following framing it does not read (a transfer coding besides chunked, a bad chunk size)', () => {
    const te = new RequestLineGuard(16_384);
    feed(
      te,
      'POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n' + get('/b').bytes,
    );
    assert.equal(te.take('/a'), 'ok');
    assert.equal(te.take('/b'), 'unverified');
    const size = new RequestLineGuard(16_384);
    feed(size, 'POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' + get('/b').bytes);
    assert.equal(size.take('/a'), 'ok');
    assert.equal(size.take('/b'), 'unverified');
  });

  it('stops following a head longer than the limit', () => {
    const guard = new RequestLineGuard(64);
    feed(guard, `GET /a HTTP/1.1\r\nX-Long: ${'x'.repeat(2000)}`);
    assert.equal(guard.take('/a'), 'unverified');
  });
});

describe('RequestLineGuard and the body limit', () => {
  it('stops after a chunked body that passes the limit: the request behind it is not verified', () => {
    const guard = new RequestLineGuard(16_384, () => 100);
    feed(guard, chunked('/big', ['x'.repeat(60), 'y'.repeat(60)]).bytes + get('/behind').bytes);
    assert.equal(guard.take('/big'), 'ok');
    assert.equal(guard.take('/behind'), 'unverified');
  });

  it('stops after a Content-Length over the limit', () => {
    const guard = new RequestLineGuard(16_384, () => 10);
    feed(guard, post('/big', 'x'.repeat(11)).bytes + get('/behind').bytes);
    assert.equal(guard.take('/big'), 'ok');
    assert.equal(guard.take('/behind'), 'unverified');
  });

  it('bodies within the limit keep the connection followed', () => {
    const guard = new RequestLineGuard(16_384, () => 120);
    feed(guard, chunked('/ok', ['x'.repeat(60), 'y'.repeat(60)]).bytes + get('/behind').bytes);
    assert.equal(guard.take('/ok'), 'ok');
    assert.equal(guard.take('/behind'), 'ok');
  });
});
