import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BodySink, StreamingBody } from '../../pipeline/gateway-response.js';
import { TeeBody } from './tee-body.js';

/** A body that writes `chunks` then ends (or fails) when piped, and collects them on demand. */
function source(chunks: string[], fail = false): StreamingBody & { destroyed: boolean } {
  return {
    destroyed: false,
    pipeTo(dest: BodySink) {
      for (const c of chunks) dest.write(Buffer.from(c));
      if (fail) dest.destroy();
      else dest.end();
    },
    collect(maxBytes: number) {
      const body = Buffer.from(chunks.join(''));
      return body.length > maxBytes ? Promise.reject(new Error('too large')) : Promise.resolve(body);
    },
    destroy() {
      this.destroyed = true;
    },
  };
}

/** A client response stand-in that records what it got. */
function sink(): BodySink & { got: string; ended: boolean; destroyed: boolean } {
  return {
    got: '',
    ended: false,
    destroyed: false,
    write(chunk: Buffer) {
      this.got += chunk.toString();
      return true;
    },
    end(chunk?: Buffer) {
      if (chunk !== undefined) this.got += chunk.toString();
      this.ended = true;
    },
    destroy() {
      this.destroyed = true;
    },
    on() {
      return this;
    },
  };
}

describe('TeeBody', () => {
  it('passes every chunk through and hands over the whole copy at the end', () => {
    const copies: (string | null)[] = [];
    const dest = sink();
    new TeeBody(source(['ab', 'cd', 'e']), 10, (b) => copies.push(b?.toString() ?? null)).pipeTo(dest);
    assert.equal(dest.got, 'abcde');
    assert.equal(dest.ended, true);
    assert.deepEqual(copies, ['abcde']);
  });

  it('still passes a body over the limit through, and stores nothing', () => {
    const copies: (Buffer | null)[] = [];
    const dest = sink();
    new TeeBody(source(['abcd', 'efgh']), 6, (b) => copies.push(b)).pipeTo(dest);
    assert.equal(dest.got, 'abcdefgh');
    assert.deepEqual(copies, [null]);
  });

  it('stores nothing for a body that failed mid-way, and closes the client response', () => {
    const copies: (Buffer | null)[] = [];
    const dest = sink();
    new TeeBody(source(['ab'], true), 10, (b) => copies.push(b)).pipeTo(dest);
    assert.equal(dest.destroyed, true);
    assert.deepEqual(copies, [null]);
  });

  it('collect() gives the body to the reader and the copy to the cache', async () => {
    const copies: (string | null)[] = [];
    const tee = new TeeBody(source(['{"a":', '1}']), 100, (b) => copies.push(b?.toString() ?? null));
    assert.equal((await tee.collect(1000)).toString(), '{"a":1}');
    assert.deepEqual(copies, ['{"a":1}']);
  });

  it('a destroyed body is not stored, and done is called once', () => {
    const copies: (Buffer | null)[] = [];
    const inner = source(['ab']);
    const tee = new TeeBody(inner, 10, (b) => copies.push(b));
    tee.destroy();
    tee.destroy();
    assert.equal(inner.destroyed, true);
    assert.deepEqual(copies, [null]);
  });
});
