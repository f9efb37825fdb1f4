// Stateful resources (upstream pools, later breaker state, JWKS caches, Redis clients) that outlive one
// snapshot: a new snapshot reuses the instance an older one created under the same key, and an instance is
// disposed only when no live snapshot uses it any more.
import type { Awaitable } from '../pipeline/policy.js';

interface Resource {
  readonly value: unknown;
  readonly dispose: ((value: unknown) => Awaitable<void>) | undefined;
  /** Background work to begin once a live snapshot holds the resource (never for a build that failed). */
  start: ((value: unknown) => void) | undefined;
  users: number;
}

export class ResourceRegistry {
  private readonly resources = new Map<string, Resource>();

  /** Starts a build: resources it asks for are reused or created, but only retained on commit. */
  scope(): CarryOverScope {
    return new CarryOverScope(this.resources);
  }

  /** The snapshot built with this scope is live. */
  retain(scope: CarryOverScope): void {
    for (const key of scope.keys) {
      const r = this.resources.get(key);
      if (!r) continue;
      r.users++;
      const start = r.start;
      if (start !== undefined) {
        r.start = undefined;
        start(r.value);
      }
    }
  }

  /** A snapshot is retired (or a build failed, with `retained` false): dispose what nobody uses. */
  async release(scope: CarryOverScope, retained = true): Promise<void> {
    const pending: Awaitable<void>[] = [];
    for (const key of scope.keys) {
      const r = this.resources.get(key);
      if (!r) continue;
      if (retained) r.users--;
      if (r.users <= 0) {
        this.resources.delete(key);
        if (r.dispose) pending.push(safeDispose(r));
      }
    }
    await Promise.all(pending);
  }

  /** The resource a live snapshot holds under `key` (the primary's shared stores), if any. */
  peek(key: string): unknown {
    return this.resources.get(key)?.value;
  }

  get size(): number {
    return this.resources.size;
  }
}

export class CarryOverScope {
  readonly keys = new Set<string>();
  /** The instance this build got for each key (a build that yields may see one replaced meanwhile). */
  private readonly got = new Map<string, unknown>();
  /** What the code running under `record` asked for, by key. */
  private recording: Map<string, unknown> | undefined;
  constructor(private readonly resources: Map<string, Resource>) {}

  get<T>(
    key: string,
    create: () => T,
    dispose?: (value: T) => Awaitable<void>,
    start?: (value: T) => void,
  ): T {
    this.keys.add(key);
    const existing = this.resources.get(key);
    let value: T;
    if (existing) value = existing.value as T;
    else {
      value = create();
      this.resources.set(key, {
        value,
        dispose: dispose as ((v: unknown) => Awaitable<void>) | undefined,
        start: start as ((v: unknown) => void) | undefined,
        users: 0,
      });
    }
    if (!this.got.has(key)) this.got.set(key, value);
    this.recording?.set(key, value);
    return value;
  }

  /** Runs `fn` and returns, besides its result, the resources it asked for (a route's, to reuse it later). */
  record<T>(fn: () => T): { readonly result: T; readonly used: ReadonlyMap<string, unknown> } {
    const outer = this.recording;
    const used = new Map<string, unknown>();
    this.recording = used;
    try {
      return { result: fn(), used };
    } finally {
      this.recording = outer;
      if (outer) for (const [k, v] of used) outer.set(k, v);
    }
  }

  /**
   * Takes on the resources an earlier build's route used, to reuse that route as it is: true when each is
   * still the very instance alive under its key; false (and nothing taken) when one was closed or replaced.
   */
  adopt(used: ReadonlyMap<string, unknown>): boolean {
    for (const [key, value] of used) if (this.resources.get(key)?.value !== value) return false;
    for (const [key, value] of used) {
      this.keys.add(key);
      if (!this.got.has(key)) this.got.set(key, value);
      this.recording?.set(key, value);
    }
    return true;
  }

  /** Every resource this build got is still the one alive under its key (none was closed while it yielded). */
  intact(): boolean {
    for (const [key, value] of this.got) if (this.resources.get(key)?.value !== value) return false;
    return true;
  }
}

async function safeDispose(r: Resource): Promise<void> {
  try {
    await r.dispose!(r.value);
  } catch {
    // Closing a resource that already failed must not stop the others from closing.
  }
}
