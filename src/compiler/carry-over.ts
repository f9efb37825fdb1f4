// Stateful resources (upstream pools, later breaker state, JWKS caches, Redis clients) that outlive one
// snapshot: a new snapshot reuses the instance an older one created under the same key, and an instance is
// disposed only when no live snapshot uses it any more.
import type { Awaitable } from '../pipeline/policy.js';

interface Resource {
  readonly value: unknown;
  readonly dispose: ((value: unknown) => Awaitable<void>) | undefined;
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
      if (r) r.users++;
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
  constructor(private readonly resources: Map<string, Resource>) {}

  get<T>(key: string, create: () => T, dispose?: (value: T) => Awaitable<void>): T {
    this.keys.add(key);
    const existing = this.resources.get(key);
    if (existing) return existing.value as T;
    const value = create();
    this.resources.set(key, {
      value,
      dispose: dispose as ((v: unknown) => Awaitable<void>) | undefined,
      users: 0,
    });
    return value;
  }
}

async function safeDispose(r: Resource): Promise<void> {
  try {
    await r.dispose!(r.value);
  } catch {
    // Closing a resource that already failed must not stop the others from closing.
  }
}
