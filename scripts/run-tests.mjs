// Runs every *.test.ts under src/ and test/ with node's test runner (TypeScript through tsx).
// Node 20's --test does not expand globs itself, so the file list is built here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) collect(full, out);
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

// Hang guard per test file (node 20 applies --test-timeout to each file as a whole). The slowest files start
// many CLI children through tsx: test/e2e/cli.test.ts took 62 s with stress-ng --cpu 2 beside the suite on a
// 2-core machine, 78 s with --cpu 4 and 94 s with --cpu 8, against the 120 s this guard was.
const FILE_TIMEOUT_MS = 300_000;

const filter = process.argv.slice(2);
let files = [...collect('src', []), ...collect('test', [])].sort();
if (filter.length > 0) files = files.filter((f) => filter.some((p) => f.includes(p)));
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-concurrency=2',
    `--test-timeout=${FILE_TIMEOUT_MS}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
