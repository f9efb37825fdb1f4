// The operator kit in deploy/: the Prometheus alert rules pass `promtool check rules` and their unit tests
// (`promtool test rules`), and every PromQL expression in the rules and the Grafana dashboard only names
// metrics the gateway exposes (or that announced capabilities will add), so a renamed metric cannot leave
// a dashboard panel or an alert silently empty.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createGatewayMetrics } from '../../src/observability/metrics.js';

/**
 * Metrics that later capabilities add to the registry, used by the dashboard and the alerts before the
 * gateway exposes them: rate limiting, circuit breakers and caching.
 */
export const RESERVED_METRICS: readonly string[] = [
  'portico_rate_limit_rejected_total', // {route, tier}: 429s answered by rate limiting
  'portico_rate_limit_store_errors_total', // {store}
  'portico_circuit_state', // {upstream, target, state}: 1 for the current state of closed|open|half_open
  'portico_circuit_transitions_total', // {upstream, target, to}
  'portico_cache_requests_total', // {route, result}: hit|miss|stale|bypass
];

/** Series Prometheus adds for every scrape target. */
const SCRAPE_METRICS: readonly string[] = ['up'];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES = 'deploy/prometheus/alerts.yml';
const RULE_TESTS = 'deploy/prometheus/alerts.test.yml';
const DASHBOARD = 'deploy/grafana/portico.json';
const RUNBOOK = 'https://portico.dev/docs/observability#alerts';

/** The metric names the gateway's registry exposes (with the histogram series suffixes), plus the reserved ones. */
async function allowedMetricNames(): Promise<Set<string>> {
  const metrics = createGatewayMetrics({ inflight: () => 0 });
  const names = new Set<string>([...RESERVED_METRICS, ...SCRAPE_METRICS]);
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects. Strings, Grafana variables ($route, ${x}, $__range),
 * label matchers, ranges and grouping label lists are removed first; what is left that is neither a
 * function or aggregation (followed by "(") nor a keyword, and does not start inside a number or
 * duration (5m, 1e3), is a metric name.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const name = m[1]!;
    if (m[2] === undefined && !PROMQL_KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** True when promtool can run; otherwise skips the test, or fails it where promtool is required. */
function havePromtool(t: TestContext): boolean {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (!probe.error) return true;
  if (process.env.CI === 'true' || process.env.PORTICO_REQUIRE_PROMTOOL === '1')
    assert.fail('promtool is required here (Debian package prometheus; .ci/run installs it)');
  t.skip('promtool not installed (apt-get install prometheus)');
  return false;
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Target {
  expr?: string;
  refId?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query: unknown;
  definition?: string;
  multi?: boolean;
  includeAll?: boolean;
}
interface Dashboard {
  schemaVersion: number;
  __inputs: { name: string; type: string; pluginId: string }[];
  templating: { list: Variable[] };
  annotations: { list: { name: string; expr?: string }[] };
  panels: Panel[];
}

const readText = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const rules = (): Rule[] =>
  (parse(readText(RULES)) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const dashboard = (): Dashboard => JSON.parse(readText(DASHBOARD)) as Dashboard;
/** Every panel, rows and the panels of collapsed rows included. */
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

describe('operator kit', () => {
  it('finds the metric names in PromQL (the checker below relies on it)', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"$route", x="up"}[$__rate_interval])))' +
          ' / on (route) group_left sum without (instance) (b_total offset 1h) > 3 * (c or 0 * vector(1e3))' +
          ' and count_values("le", d:recorded[5m:1m]) unless topk(5, e{job="f"} @ start())',
      ),
      ['a_bucket', 'b_total', 'c', 'd:recorded', 'e'],
    );
  });

  it('promtool check rules accepts the alert rules', (t) => {
    if (!havePromtool(t)) return;
    const r = promtool('check', 'rules', RULES);
    assert.equal(r.status, 0, `promtool: ${r.output}`);
  });

  it('promtool test rules: every alert fires when it should and stays silent for healthy series', (t) => {
    const tested = new Set<string>();
    const firing = new Set<string>();
    const spec = parse(readText(RULE_TESTS)) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    for (const test of spec.tests)
      for (const a of test.alert_rule_test ?? []) {
        tested.add(a.alertname);
        if ((a.exp_alerts ?? []).length > 0) firing.add(a.alertname);
      }
    for (const rule of rules()) {
      if (rule.alert === undefined) continue;
      assert.ok(firing.has(rule.alert), `${RULE_TESTS} has no case where ${rule.alert} fires`);
      assert.ok(tested.has(rule.alert), `${RULE_TESTS} does not test ${rule.alert}`);
    }
    if (!havePromtool(t)) return;
    const r = promtool('test', 'rules', RULE_TESTS);
    assert.equal(r.status, 0, `promtool: ${r.output}`);
  });

  it('the dashboard parses, its panels have unique ids and non-overlapping places, and its queries name known metrics', async () => {
    const allowed = await allowedMetricNames();
    const d = dashboard();
    assert.ok(d.schemaVersion >= 36, `schemaVersion ${d.schemaVersion}`);
    assert.ok(d.__inputs.some((i) => i.name === 'DS_PROMETHEUS' && i.pluginId === 'prometheus'));
    const vars = new Map(d.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.get('datasource')?.type, 'datasource');
    assert.equal(vars.get('datasource')?.query, 'prometheus');
    const route = vars.get('route');
    assert.equal(route?.type, 'query');
    assert.equal(route?.definition, 'label_values(portico_requests_total, route)');
    assert.ok(route?.multi && route.includeAll, 'route is multi-select with All');

    const panels = allPanels(d.panels);
    const ids = new Set<number>();
    const placed: { title: string; x: number; y: number; w: number; h: number }[] = [];
    let queries = 0;
    for (const p of panels) {
      assert.ok(Number.isInteger(p.id), `panel "${p.title}" has no id`);
      assert.ok(!ids.has(p.id), `panel id ${p.id} ("${p.title}") is not unique`);
      ids.add(p.id);
      const g = p.gridPos;
      assert.ok(g, `panel "${p.title}" has no gridPos`);
      for (const k of ['x', 'y', 'w', 'h'] as const)
        assert.ok(Number.isInteger(g[k]) && g[k] >= 0, `panel "${p.title}": gridPos.${k}`);
      assert.ok(g.w > 0 && g.h > 0 && g.x + g.w <= 24, `panel "${p.title}" does not fit the 24-column grid`);
      for (const o of placed)
        assert.ok(
          g.x + g.w <= o.x || o.x + o.w <= g.x || g.y + g.h <= o.y || o.y + o.h <= g.y,
          `panels "${p.title}" and "${o.title}" overlap`,
        );
      placed.push({ title: p.title, ...g });
      if (p.type === 'row') continue;
      assert.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}" uses the datasource variable`);
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has no query`);
      for (const target of p.targets ?? []) {
        assert.ok(target.expr, `panel "${p.title}" target ${target.refId} has no expr`);
        const names = metricNames(target.expr);
        assert.ok(names.length > 0, `panel "${p.title}": no metric in ${target.expr}`);
        for (const name of names)
          assert.ok(
            allowed.has(name),
            `panel "${p.title}" queries ${name}, which the gateway does not expose`,
          );
        queries++;
      }
    }
    for (const a of d.annotations.list)
      for (const name of a.expr === undefined ? [] : metricNames(a.expr))
        assert.ok(
          allowed.has(name),
          `annotation "${a.name}" queries ${name}, which the gateway does not expose`,
        );
    assert.ok(queries >= 20, `only ${queries} queries`);
  });

  it('the dashboard queries are valid PromQL (promtool check rules on them)', (t) => {
    if (!havePromtool(t)) return;
    const d = dashboard();
    const exprs = [
      ...allPanels(d.panels).flatMap((p) => (p.targets ?? []).map((x) => x.expr ?? '')),
      ...d.annotations.list.flatMap((a) => (a.expr === undefined ? [] : [a.expr])),
    ];
    // Grafana's variables, as Grafana would substitute them.
    const substituted = exprs.map((e) =>
      e
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__range', '6h')
        .replaceAll('$route', '.*')
        .replaceAll('$job', 'portico'),
    );
    const dir = mkdtempSync(join(tmpdir(), 'portico-dashboard-'));
    try {
      const file = join(dir, 'dashboard-rules.yml');
      const groups = [
        {
          name: 'dashboard',
          rules: substituted.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })),
        },
      ];
      writeFileSync(file, JSON.stringify({ groups }));
      const r = promtool('check', 'rules', file);
      assert.equal(r.status, 0, `promtool: ${r.output}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the alert rules name known metrics and carry severity, summary, description and the runbook', async () => {
    const allowed = await allowedMetricNames();
    const groups = (parse(readText(RULES)) as { groups: { name: string }[] }).groups;
    assert.deepEqual(
      groups.map((g) => g.name),
      ['portico'],
    );
    const all = rules();
    const alerts = all.map((r) => r.alert);
    for (const name of [
      'PorticoDown',
      'PorticoHigh5xxRatio',
      'Portico4xxSurge',
      'Portico429Surge',
      'PorticoCircuitOpen',
      'PorticoConfigReloadFailed',
    ])
      assert.ok(alerts.includes(name), `${name} is missing`);
    assert.equal(new Set(alerts).size, alerts.length, 'alert names are unique');
    for (const rule of all) {
      const what = rule.alert ?? rule.record;
      const names = metricNames(rule.expr);
      assert.ok(names.length > 0, `${what}: no metric in ${rule.expr}`);
      for (const name of names)
        assert.ok(allowed.has(name), `${what} queries ${name}, which the gateway does not expose`);
      if (rule.alert === undefined) continue;
      assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${what}: severity`);
      assert.ok(rule.annotations?.summary, `${what}: summary`);
      assert.ok(rule.annotations?.description?.includes('$labels'), `${what}: description names its labels`);
      assert.equal(rule.annotations?.runbook_url, RUNBOOK, `${what}: runbook_url`);
    }
  });
});
