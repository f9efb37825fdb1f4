// Peer: fast-gateway 3.x (restana + fast-proxy-lite, node:http client with a keep-alive agent) as a
// pass-through of every GET to the bench upstream, with its defaults otherwise.
// Usage: node peers/fast-gateway.js <upstream origin>. Prints its port on stdout once listening.
import type { Server } from 'node:http';
import gateway from 'fast-gateway';
import { announcePort, exitWithHarness, upstreamOrigin } from './serve.js';

const origin = upstreamOrigin('fast-gateway');

// One route for every path; fast-gateway's proxy (fast-proxy-lite) keeps upstream connections alive
// (http.Agent keepAlive: true) by default.
const service = gateway({ routes: [{ prefix: '', target: origin, methods: ['GET'] }] });

const server = await service.start(Number(process.env.PORT ?? 0), '127.0.0.1');
announcePort(server as Server, 'fast-gateway');
exitWithHarness();
