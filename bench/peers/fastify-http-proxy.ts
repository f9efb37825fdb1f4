// Peer: fastify 5 with @fastify/http-proxy (which forwards through @fastify/reply-from's undici Pool,
// keep-alive) as a pass-through of every GET to the bench upstream; logger off, defaults otherwise.
// Usage: node peers/fastify-http-proxy.js <upstream origin>. Prints its port on stdout once listening.
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { announcePort, exitWithHarness, upstreamOrigin } from './serve.js';

const origin = upstreamOrigin('fastify-http-proxy');

const app = Fastify({ logger: false });
await app.register(proxy, { upstream: origin, prefix: '/', httpMethods: ['GET'] });
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
announcePort(app.server, 'fastify-http-proxy');
exitWithHarness();
