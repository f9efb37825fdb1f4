// Validates a parsed config against the schema, collecting every issue (not just the first) with a clear
// "expected …" message, did-you-mean for unknown keys, and "not available yet" for planned ones.
// Applies schema defaults on the way, so the result is the complete config.
import { isIP } from 'node:net';
import type { TSchema } from '@sinclair/typebox';
import type { ConfigIssue, ConfigPath, IssueCollector } from './config-issue.js';
import { PLANNED_KEYS } from './schema.js';
import { closest } from './closest.js';

export { closest };

type Json = Record<string, unknown>;

interface SchemaLike {
  type?: string;
  anyOf?: SchemaLike[];
  const?: unknown;
  properties?: Record<string, SchemaLike>;
  patternProperties?: Record<string, SchemaLike>;
  additionalProperties?: boolean | SchemaLike;
  required?: string[];
  /** Keys required unless one of the listed keys is present (`upstream`, unless a route has `callbacks`). */
  'x-required-unless'?: Record<string, readonly string[]>;
  items?: SchemaLike;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  /** A check beyond what a JSON Schema says: `cidr` (an IP address or CIDR, isCidr). */
  'x-format'?: string;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  'x-expected'?: string;
}

/** Returns the value with defaults applied; issues go to the collector. */
export function validateAgainstSchema(
  schema: TSchema,
  value: unknown,
  issues: IssueCollector,
  items?: ItemResults,
): unknown {
  const s = schema as SchemaLike;
  if (items === undefined || s.type !== 'object' || !isPlainObject(value)) return check(s, value, [], issues);
  return checkObject(s, value, [], issues, items);
}

/** An item of a root list validated alone: its value with defaults, and its issues. */
export interface ItemResult {
  readonly value: unknown;
  readonly issues: readonly ConfigIssue[];
}

/**
 * Results for the items of the root list `key` (the config's routes) found before, by position and value:
 * an item with a result is not checked again, its issues are reported as found.
 */
export interface ItemResults {
  readonly key: string;
  get(index: number, raw: unknown): ItemResult | undefined;
  set(index: number, raw: unknown, result: ItemResult): void;
}

/** Item `index` of the root list `key`, validated alone: what validateAgainstSchema finds for it in place. */
export function validateItem(
  schema: TSchema,
  key: string,
  index: number,
  raw: unknown,
  issues: IssueCollector,
): ItemResult {
  const list = (schema as SchemaLike).properties?.[key];
  if (list?.items === undefined) throw new TypeError(`validateItem: "${key}" is not a list of the schema`);
  const own = issues.fork();
  const value = check(list.items, raw, [key, index], own);
  return { value, issues: own.issues };
}

const patternCache = new Map<string, RegExp>();
function regex(p: string): RegExp {
  let r = patternCache.get(p);
  if (!r) patternCache.set(p, (r = new RegExp(p, 'u')));
  return r;
}

function check(s: SchemaLike, value: unknown, path: ConfigPath, issues: IssueCollector): unknown {
  if (s.anyOf) return checkUnion(s, value, path, issues);
  if (s.const !== undefined) {
    if (value !== s.const) issues.error(path, `expected ${expected(s)}, got ${describe(value)}`);
    return value;
  }
  switch (s.type) {
    case 'object':
      return checkObject(s, value, path, issues);
    case 'array':
      return checkArray(s, value, path, issues);
    case 'string':
      checkString(s, value, path, issues);
      return value;
    case 'integer':
    case 'number':
      checkNumber(s, value, path, issues);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') issues.error(path, `expected true or false, got ${describe(value)}`);
      return value;
    default:
      return value;
  }
}

function checkUnion(s: SchemaLike, value: unknown, path: ConfigPath, issues: IssueCollector): unknown {
  const variants = s.anyOf!;
  // Variants whose basic type fits the value; if exactly one fits, report its detailed errors.
  const fitting = variants.filter((v) => fitsType(v, value));
  if (fitting.length === 0) {
    issues.error(path, `expected ${expected(s)}, got ${describe(value)}`);
    return value;
  }
  if (fitting.length === 1) {
    // One candidate: its result and issues are the answer, with no trial to discard (nor a copy to try on).
    const trial = issues.fork();
    const result = check(fitting[0]!, value, path, trial);
    issues.issues.push(...trial.issues);
    return result;
  }
  let bestResult: unknown = value;
  let bestIssues: IssueCollector | undefined;
  for (const v of fitting) {
    const trial = issues.fork();
    const result = check(v, structuredCloneSafe(value), path, trial);
    if (!trial.hasErrors) return result;
    if (!bestIssues || trial.issues.length < bestIssues.issues.length) {
      bestIssues = trial;
      bestResult = result;
    }
  }
  if (fitting.length === 1 || bestIssues!.issues.length > 0) issues.issues.push(...bestIssues!.issues);
  return bestResult;
}

function fitsType(s: SchemaLike, value: unknown): boolean {
  if (s.anyOf) return s.anyOf.some((v) => fitsType(v, value));
  if (s.const !== undefined) return value === s.const;
  switch (s.type) {
    case 'object':
      return isPlainObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

function checkObject(
  s: SchemaLike,
  value: unknown,
  path: ConfigPath,
  issues: IssueCollector,
  items?: ItemResults,
): unknown {
  if (value === undefined || value === null) value = {};
  if (!isPlainObject(value)) {
    issues.error(path, `expected ${expected(s)}, got ${describe(value)}`);
    return value;
  }
  const out: Json = {};
  const props = s.properties ?? {};
  const required = new Set(s.required ?? []);
  // Keys offered as "did you mean" for a typo: their absence is that typo, already reported once.
  const suggested = new Set<string>();
  for (const [key, v] of Object.entries(value)) {
    const propSchema = props[key];
    if (propSchema) {
      out[key] =
        key === items?.key && propSchema.type === 'array' && Array.isArray(v)
          ? checkArray(propSchema, v, [key], issues, (item, i) => {
              let r = items.get(i, item);
              if (r === undefined) items.set(i, item, (r = validateItem(s as TSchema, key, i, item, issues)));
              issues.issues.push(...r.issues);
              return r.value;
            })
          : check(propSchema, v, [...path, key], issues);
      continue;
    }
    const patternSchema = s.patternProperties
      ? Object.entries(s.patternProperties).find(([p]) => regex(p).test(key))
      : undefined;
    if (patternSchema) {
      out[key] = check(patternSchema[1], v, [...path, key], issues);
      continue;
    }
    if (s.patternProperties && Object.keys(s.patternProperties).length > 0) {
      const patterns = Object.keys(s.patternProperties).join(' or ');
      issues.error([...path, key], `invalid name "${key}": expected a name matching ${patterns}`, 'key');
      continue;
    }
    if (s.additionalProperties === false) {
      const message = unknownKeyMessage(key, Object.keys(props), path);
      issues.error([...path, key], message.text, 'key');
      if (message.suggestion !== undefined) suggested.add(message.suggestion);
    } else {
      out[key] = v;
    }
  }
  for (const [key, propSchema] of Object.entries(props)) {
    if (key in value) continue;
    if (propSchema.default !== undefined) {
      out[key] = check(propSchema, structuredClone(propSchema.default), [...path, key], issues);
    } else if (suggested.has(key)) {
      continue;
    } else if (propSchema.type === 'object' && required.has(key) && propSchema.default === undefined) {
      issues.error(path, `missing required key "${key}"`);
    } else if (required.has(key)) {
      issues.error(path, `missing required key "${key}" (${expected(propSchema)})`);
    } else if (s['x-required-unless']?.[key]?.some((k) => k in value) === false) {
      const unless = s['x-required-unless'][key]!;
      issues.error(
        path,
        `missing required key "${key}" (${expected(propSchema)}` +
          (unless.length > 0
            ? `; a route with ${unless.map((k) => `\`${k}\``).join(' or ')} has none)`
            : ')'),
      );
    }
  }
  return out;
}

function checkArray(
  s: SchemaLike,
  value: unknown,
  path: ConfigPath,
  issues: IssueCollector,
  each?: (item: unknown, index: number) => unknown,
): unknown {
  if (!Array.isArray(value)) {
    issues.error(path, `expected ${expected(s)}, got ${describe(value)}`);
    return value;
  }
  if (s.minItems !== undefined && value.length < s.minItems)
    issues.error(
      path,
      `expected at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}, got ${value.length}`,
    );
  if (s.maxItems !== undefined && value.length > s.maxItems)
    issues.error(path, `expected at most ${s.maxItems} items, got ${value.length}`);
  if (s.uniqueItems) {
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const k = JSON.stringify(item);
      if (seen.has(k)) issues.error([...path, i], `duplicate item ${describe(item)}`);
      seen.add(k);
    });
  }
  if (each !== undefined && s.items) return value.map(each);
  return s.items ? value.map((item, i) => check(s.items!, item, [...path, i], issues)) : value;
}

function checkString(s: SchemaLike, value: unknown, path: ConfigPath, issues: IssueCollector): void {
  if (typeof value !== 'string') {
    issues.error(path, `expected ${expected(s)}, got ${describe(value)}`);
    return;
  }
  const bad =
    (s.minLength !== undefined && value.length < s.minLength) ||
    (s.maxLength !== undefined && value.length > s.maxLength) ||
    (s.pattern !== undefined && !regex(s.pattern).test(value)) ||
    (s['x-format'] === 'cidr' && !isCidr(value));
  if (bad) issues.error(path, `expected ${expected(s)}, got ${describe(value)}`);
}

function checkNumber(s: SchemaLike, value: unknown, path: ConfigPath, issues: IssueCollector): void {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (s.type === 'integer' && !Number.isInteger(value))
  ) {
    issues.error(path, `expected ${expected(s)}, got ${describe(value)}`);
    return;
  }
  if (s.minimum !== undefined && value < s.minimum)
    issues.error(path, `expected ${expected(s)}, got ${value} (the minimum is ${s.minimum})`);
  else if (s.maximum !== undefined && value > s.maximum)
    issues.error(path, `expected ${expected(s)}, got ${value} (the maximum is ${s.maximum})`);
}

export function isCidr(v: string): boolean {
  const [addr, bits, ...rest] = v.split('/');
  if (rest.length > 0 || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function expected(s: SchemaLike): string {
  if (s['x-expected']) return s['x-expected'];
  if (s.anyOf) {
    const parts = [...new Set(s.anyOf.map(expected))];
    return parts.length > 6
      ? `one of ${s.anyOf.map((v) => JSON.stringify(v.const)).join(', ')}`
      : parts.join(' or ');
  }
  if (s.const !== undefined) return JSON.stringify(s.const);
  switch (s.type) {
    case 'object':
      return 'a mapping (key: value)';
    case 'array':
      // Not "a list of <item>s": item descriptions are phrases ("an address like …"), not nouns.
      return s.items ? `a list, each ${expected(s.items)}` : 'a list';
    case 'string':
      return s.pattern ? `a string matching ${s.pattern}` : 'a string';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return 'a value';
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v);
  return String(v);
}

function plannedFor(path: ConfigPath): Readonly<Record<string, string>> | undefined {
  if (path.length === 0) return PLANNED_KEYS.root;
  if (path.length === 1 && path[0] === 'gateway') return PLANNED_KEYS.gateway;
  if (path.length === 1 && path[0] === 'defaults') return PLANNED_KEYS.route;
  if (path.length === 2 && path[0] === 'upstreams') return PLANNED_KEYS.upstream;
  if (path.length === 2 && path[0] === 'routes') return PLANNED_KEYS.route;
  return undefined;
}

function unknownKeyMessage(
  key: string,
  allowed: string[],
  path: ConfigPath,
): { text: string; suggestion: string | undefined } {
  const planned = plannedFor(path)?.[key];
  if (planned)
    return {
      text: `"${key}" is not available yet in this version of Portico (it comes with ${planned})`,
      suggestion: undefined,
    };
  const suggestion = closest(key, allowed);
  const keys = allowed.filter((k) => k !== '$schema');
  const hint = suggestion
    ? ` — did you mean "${suggestion}"?`
    : keys.length === 0
      ? '; this setting takes no keys'
      : `; allowed keys: ${keys.join(', ')}`;
  return { text: `unknown key "${key}"${hint}`, suggestion };
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function structuredCloneSafe<T>(v: T): T {
  return typeof v === 'object' && v !== null ? structuredClone(v) : v;
}
