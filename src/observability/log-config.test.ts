// The logging keys of `gateway:` (access_log.sample, access_log.redact, access_log.file, log_file):
// accepted values, mistakes reported where they are written with what was expected, and the defaults.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceRegistry } from '../compiler/carry-over.js';
import { buildSnapshotFromText } from '../compiler/compile-gateway.js';
import { formatIssue } from '../config/config-issue.js';
import { DEFAULT_REDACTED_QUERY_PARAMS, type GatewaySection } from '../config/gateway-schema.js';
import { policyRegistry } from '../policies/registry.js';

/** Builds a config whose gateway section holds `lines` (indented two spaces). */
async function build(
  lines: readonly string[],
): Promise<{ gateway?: GatewaySection; errors: readonly string[] }> {
  const text = ['gateway:', ...lines.map((l) => `  ${l}`), 'routes: []', ''].join('\n');
  const resources = new ResourceRegistry();
  const result = buildSnapshotFromText(text, 'gateway.yaml', {
    registry: policyRegistry,
    resources,
    env: {},
    accessLogger: undefined,
    eventLogger: undefined,
  });
  if (!result.ok)
    return { errors: result.issues.filter((i) => i.severity === 'error').map((i) => formatIssue(i)) };
  await resources.release(result.snapshot.resources, false);
  return { gateway: result.snapshot.config.gateway, errors: [] };
}

describe('logging config: accepted', () => {
  const cases: readonly [yaml: readonly string[], check: (g: GatewaySection) => void][] = [
    [['access_log: { sample: 0 }'], (g) => assert.equal(g.access_log.sample, 0)],
    [['access_log: { sample: 0.25 }'], (g) => assert.equal(g.access_log.sample, 0.25)],
    [['access_log: { sample: 1 }'], (g) => assert.equal(g.access_log.sample, 1)],
    [['access_log: { redact: [] }'], (g) => assert.deepEqual(g.access_log.redact, [])],
    [
      ['access_log: { redact: [Session, code] }'],
      (g) => assert.deepEqual(g.access_log.redact, ['Session', 'code']),
    ],
    [
      ['access_log: { file: /var/log/portico/access.log }'],
      (g) => assert.equal(g.access_log.file, '/var/log/portico/access.log'),
    ],
    [['log_file: logs/events.log'], (g) => assert.equal(g.log_file, 'logs/events.log')],
  ];
  for (const [yaml, check] of cases)
    it(yaml.join(' '), async () => {
      const { gateway, errors } = await build(yaml);
      assert.deepEqual(errors, []);
      check(gateway!);
    });
});

describe('logging config: rejected', () => {
  const cases: readonly [yaml: readonly string[], error: string][] = [
    [
      ['access_log: { sample: 1.5 }'],
      'gateway.yaml:2:25 gateway.access_log.sample: expected a number from 0 to 1 (0.1 logs one successful request in ten), got 1.5 (the maximum is 1)',
    ],
    [
      ['access_log: { sample: -0.1 }'],
      'gateway.yaml:2:25 gateway.access_log.sample: expected a number from 0 to 1 (0.1 logs one successful request in ten), got -0.1 (the minimum is 0)',
    ],
    [
      ['access_log: { sample: half }'],
      'gateway.yaml:2:25 gateway.access_log.sample: expected a number from 0 to 1 (0.1 logs one successful request in ten), got "half"',
    ],
    [
      ['access_log: { redact: token }'],
      'gateway.yaml:2:25 gateway.access_log.redact: expected a list, each a query parameter name, got "token"',
    ],
    [
      ['access_log: { redact: [token, ""] }'],
      'gateway.yaml:2:33 gateway.access_log.redact[1]: expected a query parameter name, got ""',
    ],
    [
      ['access_log: { file: "" }'],
      'gateway.yaml:2:23 gateway.access_log.file: expected a file path such as /var/log/portico/access.log, got ""',
    ],
    [
      ['log_file: 42'],
      'gateway.yaml:2:13 gateway.log_file: expected a file path such as /var/log/portico/access.log, got 42',
    ],
  ];
  for (const [yaml, error] of cases)
    it(yaml.join(' '), async () => {
      const { errors } = await build(yaml);
      assert.deepEqual(errors, [error]);
    });

  it('suggests the right key for a misspelt one', async () => {
    const { errors } = await build(['logfile: events.log', 'access_log: { smaple: 0.5 }']);
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(errors[0]!, /gateway\.logfile: .*"log_file"/);
    assert.match(errors[1]!, /gateway\.access_log\.smaple: .*"sample"/);
  });
});

describe('logging config: defaults', () => {
  it('logs every request, redacts the usual credentials and writes to stdout', async () => {
    const { gateway, errors } = await build([]);
    assert.deepEqual(errors, []);
    assert.equal(gateway!.access_log.sample, 1);
    assert.deepEqual(gateway!.access_log.redact, [...DEFAULT_REDACTED_QUERY_PARAMS]);
    assert.equal(gateway!.access_log.file, undefined);
    assert.equal(gateway!.log_file, undefined);
    for (const name of ['access_token', 'api_key', 'apikey', 'token', 'password', 'client_secret', 'sig'])
      assert.ok(DEFAULT_REDACTED_QUERY_PARAMS.includes(name), name);
  });
});
