// E2E streaming: 50 MB up/downloads through a child-process gateway with RSS growth < 30 MB, and no buffering.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startChildGateway, type ChildGateway } from '../fixtures/child-gateway.js';

const MB = 1024 * 1024;
const TOTAL = 50 * MB;
const CHUNK = 64 * 1024;
const MAX_RSS_GROWTH = 30 * MB;
/** The slow side stops reading this long after the first megabyte; an unbuffered gateway must hold back. */
const READER_PAUSE_MS = 500;

/** The same pseudo-random chunk with its index stamped in, so every chunk differs and order matters. */
const BASE = randomBytes(CHUNK);
function* payload(total: number): Generator<Buffer> {
  for (let i = 0; i * CHUNK < total; i++) {
    const chunk = Buffer.from(BASE.subarray(0, Math.min(CHUNK, total - i * CHUNK)));
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}
function payloadSha256(total: number): string {
  const h = createHash('sha256');
  for (const c of payload(total)) h.update(c);
  return h.digest('hex');
}
const EXPECTED_SHA = payloadSha256(TOTAL);

/** Reads a stream, hashing and counting, pausing once after the first megabyte. */
async function consumeSlowly(stream: Readable): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  let paused = false;
  for await (const c of stream) {
    const chunk = c as Buffer;
    h.update(chunk);
    bytes += chunk.length;
    if (!paused && bytes >= MB) {
      paused = true;
      await new Promise((r) => setTimeout(r, READER_PAUSE_MS));
    }
  }
  return { bytes, sha256: h.digest('hex') };
}

interface ClientResult {
  readonly status: number;
  readonly body: string;
}

/** Streams `body` as a request (chunked unless a length is given); collects a small response. */
function upload(
  port: number,
  path: string,
  body: Iterable<Buffer>,
  contentLength?: number,
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path,
      agent: false,
      headers: contentLength === undefined ? {} : { 'content-length': String(contentLength) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    pipeline(Readable.from(body), req).catch(reject);
  });
}

function get(port: number, path: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, resolve);
    req.on('error', reject);
  });
}

describe('streaming through a gateway in its own process', () => {
  let up: TestUpstream;
  let child: ChildGateway;
  const uploads: { bytes: number; sha256: string }[] = [];
  const downloads: { sha256: string }[] = [];

  before(async () => {
    up = await startUpstream(
      async (req, res) => {
        if (req.url?.startsWith('/upload')) {
          const got = await consumeSlowly(req);
          uploads.push(got);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(got));
          return;
        }
        if (req.url?.startsWith('/download')) {
          const size = Number(new URL(req.url, 'http://x').searchParams.get('size') ?? TOTAL);
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const h = createHash('sha256');
          // pipeline honours backpressure: the upstream only writes as fast as the gateway takes it.
          await pipeline(
            Readable.from(
              (function* () {
                for (const c of payload(size)) {
                  h.update(c);
                  yield c;
                }
              })(),
            ),
            res,
          ).catch(() => undefined);
          downloads.push({ sha256: h.digest('hex') });
          return;
        }
        res.writeHead(404);
        res.end();
      },
      { stream: true },
    );
    child = await startChildGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin: { enabled: false }
  access_log: { enabled: false }
  limits: { max_body_bytes: ${64 * MB} }
routes:
  - name: files
    path_prefix: /
    upstream: ${up.url}
`);
    // Warm up both directions so lazy allocations (pools, parsers, JIT) are in the baseline.
    for (let i = 0; i < 3; i++) {
      const small = await upload(child.port, '/upload-warm', payload(2 * MB));
      assert.equal(small.status, 200);
      const res = await get(child.port, `/download-warm?size=${2 * MB}`);
      assert.equal((await consumeSlowly(res)).bytes, 2 * MB);
    }
  });
  after(async () => {
    await child?.stop();
    await up?.close();
  });

  /**
   * Runs `transfer` and asserts the gateway's peak RSS growth. The child collects garbage every 25 ms
   * meanwhile: left alone, V8 frees dead socket buffers only under external-memory pressure, and the first
   * big stream through a fresh process then peaks at 17-48 MB with nothing buffered (measured); the
   * allocator keeps that memory afterwards, which would also hide real buffering in later transfers.
   */
  async function assertStreams(t: TestContext, transfer: () => Promise<void>): Promise<void> {
    const m = await child.measure(transfer);
    t.diagnostic(`gateway RSS ${mb(m.baseline)} before the transfer, peak growth ${mb(m.peakGrowth)}`);
    assert.ok(m.peakGrowth < MAX_RSS_GROWTH, `RSS grew by ${mb(m.peakGrowth)} (baseline ${mb(m.baseline)})`);
  }

  const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

  it('a 50 MB chunked upload passes intact with RSS growing under 30 MB', async (t) => {
    const before = uploads.length;
    await assertStreams(t, async () => {
      const res = await upload(child.port, '/upload', payload(TOTAL));
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), { bytes: TOTAL, sha256: EXPECTED_SHA });
    });
    assert.deepEqual(uploads.slice(before), [{ bytes: TOTAL, sha256: EXPECTED_SHA }]);
  });

  it('a 50 MB upload with Content-Length passes intact with RSS growing under 30 MB', async (t) => {
    await assertStreams(t, async () => {
      const res = await upload(child.port, '/upload-cl', payload(TOTAL), TOTAL);
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), { bytes: TOTAL, sha256: EXPECTED_SHA });
    });
  });

  it('a 50 MB download passes intact to a slow reader with RSS growing under 30 MB', async (t) => {
    const before = downloads.length;
    await assertStreams(t, async () => {
      const res = await get(child.port, '/download');
      assert.equal(res.statusCode, 200);
      assert.deepEqual(await consumeSlowly(res), { bytes: TOTAL, sha256: EXPECTED_SHA });
    });
    assert.deepEqual(downloads.slice(before), [{ sha256: EXPECTED_SHA }]);
  });
});

describe('the gateway does not buffer', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let upstreamFinishedAt = 0;
  let upstreamFirstBodyAt = 0;
  const timers = new Set<NodeJS.Timeout>();

  before(async () => {
    up = await startUpstream(
      (req, res) => {
        if (req.url === '/slow-download') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first chunk\n');
          const t = setTimeout(() => {
            timers.delete(t);
            upstreamFinishedAt = performance.now();
            res.end('second chunk\n');
          }, 500);
          timers.add(t);
          return;
        }
        // /slow-upload: note when the first body byte arrives, answer when the body ends.
        req.once('data', () => (upstreamFirstBodyAt = performance.now()));
        req.resume();
        req.on('end', () => res.end('ok'));
      },
      { stream: true },
    );
    gw = await startTestGateway(`
routes:
  - name: all
    path_prefix: /
    upstream: ${up.url}
`);
  });
  after(async () => {
    for (const t of timers) clearTimeout(t);
    await gw?.stop();
    await up?.close();
  });

  it('the first byte of a slow download reaches the client before the upstream finishes', async () => {
    const started = performance.now();
    const res = await get(gw.port, '/slow-download');
    const firstAt = await new Promise<number>((resolve) =>
      res.once('data', () => resolve(performance.now())),
    );
    let rest = '';
    res.setEncoding('utf8');
    for await (const c of res) rest += c as string;
    assert.ok(upstreamFinishedAt > 0);
    assert.ok(firstAt < upstreamFinishedAt, 'the first chunk arrived only after the upstream finished');
    assert.ok(firstAt - started < 400, `first byte after ${firstAt - started} ms`);
    assert.equal(rest, 'second chunk\n');
  });

  it('the first byte of a slow upload reaches the upstream before the client finishes', async () => {
    let clientEndAt = 0;
    const body = (async function* () {
      yield Buffer.from('first part\n');
      await new Promise((r) => setTimeout(r, 500));
      clientEndAt = performance.now();
      yield Buffer.from('second part\n');
    })();
    const res = await new Promise<ClientResult>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: gw.port,
        method: 'POST',
        path: '/slow-upload',
        agent: false,
      });
      req.on('error', reject);
      req.on('response', (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (text += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
      });
      pipeline(Readable.from(body), req).catch(reject);
    });
    assert.equal(res.status, 200);
    assert.ok(upstreamFirstBodyAt > 0 && clientEndAt > 0);
    assert.ok(upstreamFirstBodyAt < clientEndAt, 'the upstream saw the body only after the client finished');
  });
});
