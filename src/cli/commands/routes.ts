// `portico routes FILE`: the compiled route table in precedence order — what wins when two routes overlap.
import type { Command } from '../main.js';
import type { Policy } from '../../pipeline/policy.js';
import { answeredMethods } from '../../router/router.js';
import { parseConfigArgs, withCompiledConfig } from './config-arg.js';

export const runRoutes: Command = {
  summary: 'Print the compiled route table in precedence order',
  usage: [
    'Usage: portico routes FILE [--json]',
    '',
    'Prints every route in the order the router tries them (first match wins):',
    'priority, then exact before prefix, longer paths, literal segments before :params,',
    'exact hosts before *.wildcards, method lists, more header/query conditions, file order.',
    '',
    'methods are those the route answers, as its 405 Allow header lists them: HEAD wherever GET is;',
    '* (--json: null) for any method.',
    '',
    "status is what the route's policies report now: a version's lifecycle state",
    '(active, deprecated, brownout, sunset) with its sunset and next brownout.',
    '',
    'Options:',
    '  --json   Machine-readable output',
  ].join('\n'),
  async run(args) {
    const { file, values } = parseConfigArgs(args, { json: { type: 'boolean' } });
    return withCompiledConfig(file, (snapshot) => {
      const now = Date.now();
      const rows = snapshot.router.precedence.map((spec, i) => {
        const r = spec.value;
        const conds = [
          ...r.match.headers.map(([k, v]) => `header ${k}${v === true ? '' : `=${v}`}`),
          ...r.match.query.map(([k, v]) => `query ${k}${v === true ? '' : `=${v}`}`),
        ];
        return {
          order: i + 1,
          name: r.name,
          match: `${r.match.kind === 'exact' ? '=' : ''}${r.match.path}${r.match.kind === 'prefix' ? (r.match.path.endsWith('/') ? '*' : '/*') : ''}`,
          // What the router answers (HEAD wherever GET is), not only what the file lists; null: any method.
          methods: spec.methods ? answeredMethods(spec.methods) : null,
          host: r.match.hosts?.join(',') ?? '*',
          conditions: conds.join('; '),
          priority: r.priority,
          upstream: r.upstreamLabel,
          policies: r.policyNames.join(','),
          // What the route's policies say of themselves now (a version's lifecycle, its next brownout).
          status: statusOf(r.policies, now),
        };
      });
      if (values.json === true) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      } else {
        const cols = [
          'order',
          'name',
          'match',
          'methods',
          'host',
          'conditions',
          'priority',
          'upstream',
          'policies',
          'status',
        ] as const;
        const cell = (r: (typeof rows)[number], c: (typeof cols)[number]) =>
          c === 'methods' ? (r.methods?.join(',') ?? '*') : String(r[c] ?? '');
        const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
        const line = (vals: string[]) =>
          vals
            .map((v, i) => v.padEnd(widths[i]!))
            .join('  ')
            .trimEnd();
        process.stdout.write(
          [
            line([...cols]),
            line(widths.map((w) => '-'.repeat(w))),
            ...rows.map((r) => line(cols.map((c) => cell(r, c)))),
          ].join('\n') + '\n',
        );
      }
    });
  },
};

function statusOf(policies: readonly Policy[], now: number): string | null {
  const parts: string[] = [];
  for (const p of policies) {
    const text = p.describe?.(now);
    if (text !== undefined) parts.push(text);
  }
  return parts.length === 0 ? null : parts.join('; ');
}
