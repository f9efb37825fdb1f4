// The package version, read once from package.json (found walking up from this module, in src/ or dist/).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function porticoVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) return (cached = (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version);
    dir = dirname(dir);
  }
  return (cached = 'unknown');
}
