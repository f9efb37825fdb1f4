// Types for layers.js (plain ESM JavaScript, so ESLint can load it without a build step).
import type { ESLint } from 'eslint';

/** Where a repository path sits in the architecture (see classify in layers.js). */
export interface Placement {
  readonly path: string;
  readonly layer: string | null;
  readonly index: number;
  readonly policy: string | null;
  readonly rest: string | null;
  readonly leaf: boolean;
  readonly unknown: boolean;
}

export declare const REPO_ROOT: string;
export declare const LAYERS: readonly string[];
export declare const LEAVES: readonly string[];
export declare const POLICY_FOLDER_MAY_IMPORT: readonly string[];
export declare const NEVER_IMPORT_POLICIES: readonly string[];
export declare function isTestFile(repoPath: string): boolean;
export declare function classify(path: string): Placement | null;
export declare function resolveSpecifier(importerPath: string, specifier: string): string;
export declare function check(
  importer: Placement,
  target: Placement,
): [string, Record<string, string>] | null;

declare const plugin: ESLint.Plugin;
export default plugin;
