// Issue 15, "what the docs promise, the gateway does", for the config: `portico validate` reports a password
// hash that can never match, and every problem of a consumers file once at its line:column in that file;
// an empty environment variable is said to be empty; and a consumers-file change alone reloads the gateway
// and shows in the config hash of /readyz and portico_config_info — also when the file was broken or missing
// at the last reload. Real files in temp dirs, the real CLI and a real gateway.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { sample } from '../fixtures/metric-sample.js';
import { runCli, sleep, tempDir } from '../fixtures/ops-child.js';

const sha = (key: string) => 'sha256:' + createHash('sha256').update(key).digest('hex');

/** `portico validate FILE`: exit code and every issue line of stderr (the header line apart). */
async function validate(file: string, env: Record<string, string> = {}) {
  const r = await runCli(['validate', file], { env });
  const [head = '', ...lines] = r.stderr.trimEnd().split('\n');
  return { code: r.code, stdout: r.stdout, head, lines: lines.map((l) => l.trim()) };
}

describe('portico validate: consumers and password hashes', { concurrency: 2, timeout: 120_000 }, () => {
  it('reports a password hash that can never match at file:line:column with its key path', async () => {
    const t = tempDir({
      'gateway.yaml': [
        'consumers:', // 1
        '  - id: reporting-job', // 2
        "    password_hash: 'scrypt$N=16384,r=8,p=1$…'", // 3
        'routes:', // 4
        '  - name: reports', // 5
        '    path: /reports', // 6
        '    upstream: http://127.0.0.1:1', // 7
        '    auth: basic', // 8
      ].join('\n'),
    });
    try {
      const r = await validate(t.path('gateway.yaml'));
      assert.equal(r.code, 1);
      assert.equal(r.head, '1 error in configuration');
      assert.deepEqual(r.lines, [
        `${t.path('gateway.yaml')}:3:20 consumers[0].password_hash: a password hash that can never match: not a scrypt hash (scrypt$N=<n>,r=<r>,p=<p>$<salt>$<key>, base64url); portico hash-password prints one`,
      ]);
    } finally {
      t.remove();
    }
  });

  it('reports every problem of a consumers file once, at its line:column there, with did-you-mean', async () => {
    const routes = ['basic', 'basic', 'api_key', 'basic', 'basic']
      .map((auth, i) => `  - { name: r${i}, path: /r${i}, upstream: "http://127.0.0.1:1", auth: ${auth} }`)
      .join('\n');
    const t = tempDir({
      'gateway.yaml': `auth:\n  consumers_file: consumers.yaml\nroutes:\n${routes}\n`,
      'consumers.yaml': [
        '- id: good', // 1
        '  api_keys: ["' + sha('pk_good') + '"]', // 2
        '- id: bad one', // 3
        '  rolez: [reports]', // 4
        '- id: hasher', // 5
        '  password_hash: "scrypt$N=16384,r=8,p=1$abc"', // 6
      ].join('\n'),
    });
    try {
      const r = await validate(t.path('gateway.yaml'));
      assert.equal(r.code, 1);
      assert.equal(r.head, '2 errors in configuration');
      const file = t.path('consumers.yaml');
      assert.deepEqual(r.lines, [
        `${file}:3:7 [1].id: expected an id of letters, digits, _ . -, got "bad one"`,
        `${file}:4:3 [1].rolez: unknown key "rolez" — did you mean "roles"?`,
      ]);
      // With the structure right, the hash that can never match is next, in the same file.
      writeFileSync(file, ['- id: hasher', '  password_hash: "scrypt$N=16384,r=8,p=1$abc"'].join('\n'));
      const next = await validate(t.path('gateway.yaml'));
      assert.deepEqual(next.lines, [
        `${file}:2:18 [0].password_hash: a password hash that can never match: not a scrypt hash (scrypt$N=<n>,r=<r>,p=<p>$<salt>$<key>, base64url); portico hash-password prints one`,
      ]);
    } finally {
      t.remove();
    }
  });

  it('says an empty variable is empty and an unset one is not set; ${VAR:-default} covers both', async () => {
    const t = tempDir({
      'gateway.yaml': [
        'routes:', // 1
        '  - name: a', // 2
        '    path: /a', // 3
        '    upstream: ${PORTICO_T15_EMPTY}', // 4
        '  - name: b', // 5
        '    path: /b', // 6
        '    upstream: ${PORTICO_T15_UNSET}', // 7
      ].join('\n'),
      'defaults.yaml': [
        'routes:',
        '  - name: a',
        '    path: /a',
        '    upstream: ${PORTICO_T15_EMPTY:-http://127.0.0.1:1}',
        '  - name: b',
        '    path: /b',
        '    upstream: ${PORTICO_T15_UNSET:-http://127.0.0.1:2}',
      ].join('\n'),
    });
    assert.equal(process.env.PORTICO_T15_UNSET, undefined);
    try {
      const r = await validate(t.path('gateway.yaml'), { PORTICO_T15_EMPTY: '' });
      assert.equal(r.code, 1);
      assert.deepEqual(r.lines, [
        `${t.path('gateway.yaml')}:4:15 routes[0].upstream: environment variable PORTICO_T15_EMPTY is empty (write \${PORTICO_T15_EMPTY:-default} to give a default)`,
        `${t.path('gateway.yaml')}:7:15 routes[1].upstream: environment variable PORTICO_T15_UNSET is not set (write \${PORTICO_T15_UNSET:-default} to give a default)`,
      ]);
      const d = await validate(t.path('defaults.yaml'), { PORTICO_T15_EMPTY: '' });
      assert.equal(d.code, 0, d.lines.join('\n'));
      assert.equal(d.stdout, `${t.path('defaults.yaml')}: valid (2 routes)\n`);
    } finally {
      t.remove();
    }
  });
});

describe('a consumers-file change alone', { timeout: 60_000 }, () => {
  let up: TestUpstream;
  let gw: TestGateway | undefined;
  const t = tempDir();
  after(async () => {
    await gw?.stop();
    await up?.close();
    t.remove();
  });

  const gatewaySection = `gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  reload: { watch: true, debounce_ms: 50 }
`;
  const routes = (upstream: string) =>
    `routes:\n  - name: keys\n    path: /keys\n    upstream: ${upstream}\n    auth: api_key\n`;
  const entry = (id: string, key: string) => `- id: ${id}\n  api_keys: ["${sha(key)}"]\n`;

  async function status(key: string): Promise<number> {
    const res = await fetch(`${gw!.url}/keys`, { headers: { 'x-api-key': key } });
    await res.text();
    return res.status;
  }
  async function readyHash(): Promise<string> {
    const body = (await (await fetch(`${gw!.adminUrl}/readyz`)).json()) as { config_hash: string };
    return body.config_hash;
  }
  async function configInfo(hash: string): Promise<number | undefined> {
    return sample(await (await fetch(`${gw!.adminUrl}/metrics`)).text(), 'portico_config_info', { hash });
  }
  /** Polls until `check` holds (the watcher reloads after its debounce); fails after 5 s. */
  async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`not within 5 s: ${what}`);
      await sleep(50);
    }
  }

  it('reloads through the file watch and changes the config hash of /readyz and portico_config_info', async () => {
    up = await startUpstream();
    const consumers = t.path('consumers.yaml');
    writeFileSync(consumers, entry('first', 'pk_first_key_1'));
    gw = await startTestGateway(`${gatewaySection}auth:\n  consumers_file: ${consumers}\n${routes(up.url)}`, {
      watch: true,
    });
    await sleep(200); // let the watcher settle
    const first = await readyHash();
    assert.equal(await configInfo(first), 1);
    assert.equal(await status('pk_first_key_1'), 200);

    writeFileSync(consumers, entry('second', 'pk_second_key_2'));
    await eventually('the new consumer is served', async () => (await status('pk_second_key_2')) === 200);
    const second = await readyHash();
    assert.notEqual(second, first, 'the config hash covers the consumers file');
    assert.equal(await configInfo(second), 1);
    assert.equal(await configInfo(first), undefined, 'the old hash is gone');

    // A broken file keeps the old consumers (and hash); fixing it reloads.
    writeFileSync(consumers, '- id: bad one\n');
    await eventually('the failed reload is logged', async () =>
      gw!.logs.some((l) => l.event === 'config_reload_failed' && JSON.stringify(l).includes('bad one')),
    );
    assert.equal(await status('pk_second_key_2'), 200);
    assert.equal(await readyHash(), second);
    writeFileSync(consumers, entry('third', 'pk_third_key_3'));
    await eventually('the fixed file is served', async () => (await status('pk_third_key_3')) === 200);
    assert.notEqual(await readyHash(), second);
  });

  it('reloads when a consumers file the last reload could not read appears', async () => {
    const later = t.path('later.yaml');
    rmSync(later, { force: true });
    const before = await readyHash();
    gw!.writeConfig(`${gatewaySection}auth:\n  consumers_file: ${later}\n${routes(up.url)}`);
    await eventually('the reload naming a missing file fails', async () =>
      gw!.logs.some((l) => l.event === 'config_reload_failed' && JSON.stringify(l).includes('later.yaml')),
    );
    assert.equal(await readyHash(), before);
    writeFileSync(later, entry('late', 'pk_late_key_4'));
    await eventually('the file that appeared is served', async () => (await status('pk_late_key_4')) === 200);
    assert.notEqual(await readyHash(), before);
    assert.equal(await status('pk_third_key_3'), 401);
  });
});
