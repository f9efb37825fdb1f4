// The event store contract (conformance.ts) run against the Redis store, on a private redis-server: each
// case gets its own key prefix, and its keys are removed after it.
import { after, before, describe } from 'node:test';
import { Redis } from 'ioredis';
import { eventStoreConformance } from './conformance.js';
import { RedisEventStore } from './redis-store.js';
import {
  redisServerSkip,
  startRedisServer,
  type TestRedisServer,
} from '../../../../test/helpers/redis-server.js';

describe('redis event store conformance', { skip: redisServerSkip() }, () => {
  let server: TestRedisServer | undefined;
  let admin: Redis | undefined;
  let n = 0;
  before(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  after(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  eventStoreConformance('redis', async (options) => {
    if (server === undefined || admin === undefined) throw new Error('no redis-server');
    const prefix = `conformance${++n}:`;
    const store = new RedisEventStore({ url: server.url, prefix, timeoutMs: 5000, ...options });
    await store.ready;
    const keys = admin;
    return {
      store,
      close: async () => {
        await store.close();
        const left = await keys.keys(`${prefix}*`);
        if (left.length > 0) await keys.del(...left);
      },
    };
  });
});
