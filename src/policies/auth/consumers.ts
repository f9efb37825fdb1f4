// The consumers the gateway knows: from `consumers:` and the optional `auth.consumers_file`. API keys are
// looked up by their SHA-256 (the config holds only hashes); the final comparison is constant-time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse } from 'yaml';
import { PolicyConfigError } from '../../pipeline/policy.js';
import type { Identity } from '../../pipeline/identity.js';
import { ConsumersSchema, type Consumer } from './schema.js';

export interface ConsumerEntry {
  readonly consumer: Consumer;
  /** The identity every request of this consumer gets (built once). */
  readonly identity: (method: Identity['method'], configName: string) => Identity;
}

export interface ConsumerDirectory {
  readonly size: number;
  /** The consumer holding this API key, or undefined. Cost: one SHA-256 and one map lookup. */
  byApiKey(key: string): Consumer | undefined;
  byId(id: string): Consumer | undefined;
  /** Whether any consumer has an API key (auth_required then includes api_key). */
  readonly hasApiKeys: boolean;
  readonly hasPasswords: boolean;
}

/** Reads `auth.consumers_file` (a YAML list of consumers) and validates it; errors name the file. */
export function loadConsumersFile(file: string, baseDir: string): Consumer[] {
  const path = isAbsolute(file) ? file : resolve(baseDir, file);
  let data: unknown;
  try {
    data = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new PolicyConfigError(
      `cannot read the consumers file ${path}: ${err instanceof Error ? err.message : String(err)}`,
      ['consumers_file'],
    );
  }
  const list = data === null || data === undefined ? [] : data;
  const withDefaults = Value.Default(ConsumersSchema, Value.Clone(list));
  const first = Value.Errors(ConsumersSchema, withDefaults).First();
  if (first)
    throw new PolicyConfigError(
      `the consumers file ${path} is invalid at ${first.path || '/'}: ${first.message}`,
      ['consumers_file'],
    );
  return withDefaults as Consumer[];
}

export function createConsumerDirectory(consumers: readonly Consumer[]): ConsumerDirectory {
  const byHash = new Map<string, { consumer: Consumer; hash: Buffer }>();
  const byId = new Map<string, Consumer>();
  let hasPasswords = false;
  for (const c of consumers) {
    if (byId.has(c.id)) throw new PolicyConfigError(`consumer "${c.id}" is declared twice`, []);
    byId.set(c.id, c);
    if (c.password_hash !== undefined) hasPasswords = true;
    for (const h of c.api_keys) {
      const hex = h.slice('sha256:'.length);
      const other = byHash.get(hex);
      if (other)
        throw new PolicyConfigError(
          `consumers "${other.consumer.id}" and "${c.id}" share an API key hash`,
          [],
        );
      byHash.set(hex, { consumer: c, hash: Buffer.from(hex, 'hex') });
    }
  }
  return {
    size: byId.size,
    hasApiKeys: byHash.size > 0,
    hasPasswords,
    byApiKey(key) {
      const digest = createHash('sha256').update(key).digest();
      const found = byHash.get(digest.toString('hex'));
      // The map lookup found the entry by the hash; the constant-time check keeps the final comparison from
      // depending on where two hashes first differ.
      return found !== undefined && timingSafeEqual(found.hash, digest) ? found.consumer : undefined;
    },
    byId: (id) => byId.get(id),
  };
}

/** The identity of a config consumer. */
export function consumerIdentity(c: Consumer, method: Identity['method'], configName: string): Identity {
  return {
    id: c.id,
    method,
    configName,
    tier: c.tier,
    roles: c.roles,
    scopes: c.scopes,
    metadata: c.metadata,
  };
}
