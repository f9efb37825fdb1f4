// The policies' root-section checks, once per load before any route compiles: what a schema cannot say, and
// files the sections name (read, validated and reported at their own line:column).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import type { IssueCollector } from '../config/config-issue.js';
import { type LoadedSource, parseConfigText } from '../config/load-config.js';
import type { GatewayConfig } from '../config/schema.js';
import { validateAgainstSchema } from '../config/validate-config.js';
import {
  PolicyConfigError,
  type AnyPolicyDefinition,
  type SectionCheckContext,
  type SectionFile,
  type SectionPath,
} from '../pipeline/policy.js';
import type { ConfigInputs } from './config-inputs.js';

/**
 * Runs the policy definitions' `checkSections` once per load, before any route compiles; returns the root
 * sections as policies see them (those a check replaced, e.g. the consumers joined with the consumers
 * file's). Issues found in a file a section names are reported at their line:column in that file.
 */
export function checkSections(
  registry: readonly AnyPolicyDefinition[],
  config: GatewayConfig,
  source: LoadedSource,
  issues: IssueCollector,
  inputs: ConfigInputs,
  baseDir: string,
): Readonly<Record<string, unknown>> {
  const validated = config as unknown as Readonly<Record<string, unknown>>;
  const sections: Record<string, unknown> = { ...validated };
  const fileIssues: IssueCollector[] = [];
  const loadFile = (file: string, at: SectionPath, schema: TSchema): SectionFile | undefined => {
    const path = resolvePath(baseDir, file);
    // Named as the config file is: relative to the working directory when the config path was.
    const shown = isAbsolute(file) ? file : join(dirname(source.file), file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      inputs.set(path, undefined);
      issues.error(at, `cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return undefined;
    }
    inputs.set(path, bytes);
    const loaded = parseConfigText(bytes.toString('utf8'), shown, {}, { interpolate: false });
    fileIssues.push(loaded.issues);
    if (loaded.issues.hasErrors) return undefined;
    // An empty file is the schema's default (an empty list of consumers).
    const fallback = (schema as { default?: unknown }).default;
    const raw = loaded.value ?? (fallback === undefined ? loaded.value : structuredClone(fallback));
    const value = validateAgainstSchema(schema, raw, loaded.issues);
    if (loaded.issues.hasErrors) return undefined;
    return { file: shown, value, error: (p, message) => loaded.issues.error(p, message) };
  };
  const ctx: SectionCheckContext = {
    section: (name) => validated[name],
    baseDir,
    error: (path, message) => issues.error(path, message),
    loadFile,
  };
  for (const def of registry) {
    if (!def.checkSections) continue;
    let replaced: Readonly<Record<string, unknown>> | undefined;
    try {
      replaced = def.checkSections(ctx);
    } catch (err) {
      const path = err instanceof PolicyConfigError ? err.path : [];
      issues.error(path, err instanceof Error ? err.message : String(err));
    }
    if (replaced !== undefined) Object.assign(sections, replaced);
  }
  for (const f of fileIssues) issues.issues.push(...f.issues);
  return sections;
}
