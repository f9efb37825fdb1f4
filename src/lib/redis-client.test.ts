// Cluster seed lists and the reconnect backoff of the Redis client.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterUrl, reconnectDelayMs } from './redis-client.js';

describe('parseClusterUrl', () => {
  const cases: readonly (readonly [url: string, nodes: { host: string; port: number }[], opts: object])[] = [
    ['redis://10.0.0.1:7000', [{ host: '10.0.0.1', port: 7000 }], {}],
    [
      'redis://a:7000, redis://b:7001,c',
      [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
        { host: 'c', port: 6379 },
      ],
      {},
    ],
    [
      'rediss://user:p%40ss@[::1]:7000',
      [{ host: '::1', port: 7000 }],
      { username: 'user', password: 'p@ss', tls: {} },
    ],
  ];
  for (const [url, nodes, opts] of cases) {
    it(url, () => assert.deepEqual(parseClusterUrl(url), { nodes, redisOptions: opts }));
  }
  it('rejects an empty list and other schemes', () => {
    assert.throws(() => parseClusterUrl(' , '), TypeError);
    assert.throws(() => parseClusterUrl('http://a:1'), TypeError);
  });
});

describe('reconnectDelayMs', () => {
  it('doubles from 50 ms and stays under 1.05 s', () => {
    assert.ok(reconnectDelayMs(1) >= 50 && reconnectDelayMs(1) < 100);
    assert.ok(reconnectDelayMs(3) >= 200 && reconnectDelayMs(3) < 250);
    for (const n of [10, 100, 10_000]) assert.ok(reconnectDelayMs(n) >= 1000 && reconnectDelayMs(n) < 1050);
  });
});
