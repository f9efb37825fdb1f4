// The consumers the gateway knows: from `consumers:` and the optional `auth.consumers_file`. API keys are
// looked up by their SHA-256 (the config holds only hashes); the final comparison is constant-time.
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  PolicyConfigError,
  type CompileContext,
  type SectionCheckContext,
  type SectionPath,
} from '../../pipeline/policy.js';
import type { Identity } from '../../pipeline/identity.js';
import { passwordHashIssue } from './passwords.js';
import { ConsumersSchema, type AuthSection, type Consumer } from './schema.js';

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

/**
 * The consumers of `consumers:` and of `auth.consumers_file`, checked once per config load: the file is
 * read and validated like gateway.yaml (issues at their line:column in that file), and what a schema
 * cannot say is reported where it is written — a password or client secret hash that can never match, an
 * id declared twice, an API key hash two consumers share. Returns every consumer that can be used.
 */
export function loadConsumers(ctx: SectionCheckContext): Consumer[] {
  const section = ctx.section('auth') as AuthSection | undefined;
  const inline = (ctx.section('consumers') ?? []) as Consumer[];
  const entries: ConsumerEntryAt[] = inline.map((consumer, i) => ({
    consumer,
    where: `consumers[${i}]`,
    error: (path, message) => ctx.error(['consumers', i, ...path], message),
  }));
  const file = section?.consumers_file;
  if (file !== undefined) {
    const loaded = ctx.loadFile(file, ['auth', 'consumers_file'], ConsumersSchema);
    if (loaded !== undefined)
      (loaded.value as Consumer[]).forEach((consumer, i) =>
        entries.push({
          consumer,
          where: `${loaded.file} [${i}]`,
          error: (path, message) => loaded.error([i, ...path], message),
        }),
      );
  }
  return checkConsumers(entries);
}

/** A consumer with where it is written, for issues. */
interface ConsumerEntryAt {
  readonly consumer: Consumer;
  /** `consumers[2]`, or `consumers.yaml [0]`. */
  readonly where: string;
  error(path: SectionPath, message: string): void;
}

function checkConsumers(entries: readonly ConsumerEntryAt[]): Consumer[] {
  const ids = new Map<string, ConsumerEntryAt>();
  const keys = new Map<string, ConsumerEntryAt>();
  const usable: Consumer[] = [];
  for (const entry of entries) {
    const c = entry.consumer;
    let ok = true;
    if (c.password_hash !== undefined) {
      const issue = passwordHashIssue(c.password_hash);
      if (issue !== undefined)
        entry.error(
          ['password_hash'],
          `a password hash that can never match: ${issue}; portico hash-password prints one`,
        );
    }
    const secret = c.client_secret_hash;
    if (secret !== undefined && !secret.startsWith('sha256:')) {
      const issue = passwordHashIssue(secret);
      if (issue !== undefined)
        entry.error(
          ['client_secret_hash'],
          `a secret hash that can never match: ${issue}; portico hash-key prints one`,
        );
    }
    const first = ids.get(c.id);
    if (first !== undefined) {
      entry.error(['id'], `consumer "${c.id}" is declared twice (also ${first.where})`);
      ok = false;
    } else ids.set(c.id, entry);
    c.api_keys.forEach((hash, i) => {
      const other = keys.get(hash);
      if (other === undefined) {
        keys.set(hash, entry);
        return;
      }
      entry.error(
        ['api_keys', i],
        other === entry
          ? `this API key hash is listed twice for consumer "${c.id}"`
          : `consumers "${other.consumer.id}" (${other.where}) and "${c.id}" share this API key hash`,
      );
      ok = false;
    });
    if (ok) usable.push(c);
  }
  return usable;
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

/** The consumers of `consumers:` and `auth.consumers_file` (joined and checked by `checkSections`). */
export function consumerDirectory(ctx: CompileContext): ConsumerDirectory {
  const consumers = (ctx.section('consumers') ?? []) as Consumer[];
  try {
    return createConsumerDirectory(consumers);
  } catch (err) {
    if (err instanceof PolicyConfigError) throw new PolicyConfigError(`consumers: ${err.message}`, err.path);
    throw err;
  }
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
