// Three small services for the demo (orders, users, payments) on loopback ports. Each answers JSON and echoes
// the headers the gateway added, so `npm start` shows what Portico does to a request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  readonly name: string;
  readonly url: string;
  readonly server: http.Server;
}

const ECHOED = [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-trace-id',
  'traceparent',
  'x-client-type',
];

type Handler = (
  req: http.IncomingMessage,
  path: string,
  body: string,
) => { status: number; body: unknown } | Promise<{ status: number; body: unknown }>;

const orders = [
  { id: 1, item: 'coffee beans', quantity: 2, total: 24.5 },
  { id: 2, item: 'grinder', quantity: 1, total: 89.0 },
  { id: 3, item: 'filters', quantity: 10, total: 7.9 },
];
const users = [
  { id: 7, name: 'Ada', tier: 'pro' },
  { id: 8, name: 'Grace', tier: 'free' },
];

const handlers: Record<string, Handler> = {
  orders(req, path, body) {
    if (path === '/orders' && req.method === 'POST')
      return { status: 201, body: { id: orders.length + 1, received: safeJson(body) } };
    if (path === '/orders' || path === '/orders/') {
      // Pages when asked (the /v1/orders route's add_pagination always asks), with the total.
      const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
      const size = Number(query.get('size') ?? orders.length);
      const page = Number(query.get('page') ?? 1);
      const slice = orders.slice((page - 1) * size, page * size);
      return { status: 200, body: { orders: slice, total: orders.length } };
    }
    const m = /^\/orders\/(\d+)$/.exec(path);
    const order = m ? orders.find((o) => o.id === Number(m[1])) : undefined;
    return order ? { status: 200, body: order } : { status: 404, body: { error: 'no such order' } };
  },
  users(req, path) {
    if (path === '/users' || path === '/users/') return { status: 200, body: { users } };
    // The identity the gateway established: services trust these headers, which clients cannot set.
    if (path === '/users/me')
      return {
        status: 200,
        body: {
          user: req.headers['x-authenticated-user'] ?? null,
          roles: req.headers['x-authenticated-roles'] ?? null,
          tier: req.headers['x-authenticated-tier'] ?? null,
          authorization_seen: req.headers['authorization'] !== undefined,
        },
      };
    const m = /^\/users\/(\d+)$/.exec(path);
    const user = m ? users.find((u) => u.id === Number(m[1])) : undefined;
    return user ? { status: 200, body: user } : { status: 404, body: { error: 'no such user' } };
  },
  async payments(req, path) {
    if (path === '/events' && req.method === 'POST') {
      // Where the demo's signed webhook route delivers (docs/webhooks.md).
      const id = String(req.headers['x-portico-event-id'] ?? '?');
      process.stderr.write(
        `payments: webhook event ${id} delivered (attempt ${String(req.headers['x-portico-attempt'])})\n`,
      );
      return { status: 200, body: { received: id } };
    }
    if (path === '/payments/slow') {
      await new Promise((r) => setTimeout(r, 3000));
      return { status: 200, body: { status: 'finally done' } };
    }
    return {
      status: 200,
      body: {
        payments: [
          {
            id: 'pay_1',
            amount: 24.5,
            status: 'captured',
            card: { brand: 'visa', number: '4242424242424242' },
          },
        ],
      },
    };
  },
};

export async function startDemoUpstream(
  name: keyof typeof handlers | string,
  port: number,
  host = '127.0.0.1',
): Promise<DemoUpstream> {
  const handler = handlers[name];
  if (!handler) throw new Error(`unknown demo upstream ${name}`);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [path = '/'] = (req.url ?? '/').split('?');
      // Every service answers the gateway's health checks.
      const answer: Handler = path === '/healthz' ? () => ({ status: 200, body: { status: 'ok' } }) : handler;
      void Promise.resolve(answer(req, path, Buffer.concat(chunks).toString('utf8'))).then(
        ({ status, body }) => {
          const seen: Record<string, string> = {};
          for (const h of ECHOED) {
            const v = req.headers[h];
            if (typeof v === 'string') seen[h] = v;
          }
          const text =
            JSON.stringify(
              { service: name, path: req.url, ...(body as object), gateway_headers: seen },
              null,
              2,
            ) + '\n';
          res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
          });
          res.end(text);
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { name, url: `http://${host}:${a.port}`, server };
}

function safeJson(text: string): unknown {
  try {
    return text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    return text;
  }
}
