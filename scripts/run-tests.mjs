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
    '--test-timeout=120000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
