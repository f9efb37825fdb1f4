import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { workerCount } from './run-gateway.js';

describe('gateway.workers', () => {
  it('is 1 unless the config asks for more; "auto" is one per CPU', () => {
    assert.equal(workerCount(undefined, 8), 1);
    assert.equal(workerCount({}, 8), 1);
    assert.equal(workerCount({ gateway: {} }, 8), 1);
    assert.equal(workerCount({ gateway: { workers: 4 } }, 8), 4);
    assert.equal(workerCount({ gateway: { workers: 'auto' } }, 8), 8);
    assert.equal(workerCount({ gateway: { workers: 'auto' } }, 1), 1);
    assert.equal(workerCount({ gateway: { workers: 'auto' } }, 1000), 256);
  });

  it('counts an invalid setting as 1, so the single-process start reports it with its line', () => {
    for (const w of [0, -1, 2.5, 257, '2', 'all', null, true])
      assert.equal(workerCount({ gateway: { workers: w } }, 8), 1, String(w));
  });
});
