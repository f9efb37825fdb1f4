// Owns the current snapshot. A request acquires the snapshot it starts on and releases it when done;
// swap() is one assignment; a replaced snapshot is disposed (its unused resources closed) once drained.
import type { ResourceRegistry } from '../compiler/carry-over.js';
import type { GatewaySnapshot } from '../compiler/snapshot.js';
import type { Policy } from '../pipeline/policy.js';

export interface LiveSnapshot {
  readonly snapshot: GatewaySnapshot;
  inflight: number;
  retired: boolean;
}

export class SnapshotHolder {
  private live: LiveSnapshot;
  private readonly alive = new Set<LiveSnapshot>();
  private drainWaiters: (() => void)[] = [];

  constructor(
    first: GatewaySnapshot,
    private readonly resources: ResourceRegistry,
  ) {
    this.resources.retain(first.resources);
    this.live = { snapshot: first, inflight: 0, retired: false };
    this.alive.add(this.live);
  }

  get current(): GatewaySnapshot {
    return this.live.snapshot;
  }

  /** Requests in flight across every snapshot still alive. */
  get inflight(): number {
    let n = 0;
    for (const l of this.alive) n += l.inflight;
    return n;
  }

  acquire(): LiveSnapshot {
    const l = this.live;
    l.inflight++;
    return l;
  }

  release(l: LiveSnapshot): void {
    l.inflight--;
    if (l.inflight === 0) {
      if (l.retired) void this.dispose(l);
      if (this.drainWaiters.length > 0 && this.inflight === 0) this.wakeDrainWaiters();
    }
  }

  /** Makes `next` current; the old snapshot keeps serving the requests that started on it. */
  swap(next: GatewaySnapshot): GatewaySnapshot {
    const old = this.live;
    this.resources.retain(next.resources);
    this.live = { snapshot: next, inflight: 0, retired: false };
    this.alive.add(this.live);
    old.retired = true;
    if (old.inflight === 0) void this.dispose(old);
    return old.snapshot;
  }

  /** Resolves when no request is in flight, or after `timeoutMs`; returns whether it drained. */
  waitForDrain(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.drainWaiters.push(done);
    });
  }

  /** Retires the current snapshot too (shutdown): every resource is released once drained. */
  async close(): Promise<void> {
    const current = this.live;
    current.retired = true;
    const pending = [...this.alive].filter((l) => l.retired).map((l) => this.dispose(l));
    await Promise.all(pending);
  }

  private async dispose(l: LiveSnapshot): Promise<void> {
    if (!this.alive.delete(l)) return;
    const closable: Policy[] = [];
    for (const route of [...l.snapshot.routes, l.snapshot.system])
      for (const p of route.policies) if (p.close) closable.push(p);
    // A later build may have reused a route as it was (its policies too): those serve on until the last
    // snapshot holding them is disposed.
    const kept = new Set<Policy>();
    if (closable.length > 0)
      for (const other of this.alive)
        for (const route of other.snapshot.routes) for (const p of route.policies) if (p.close) kept.add(p);
    const closing: Promise<void>[] = [];
    for (const p of closable)
      if (!kept.has(p)) closing.push(Promise.resolve(p.close!()).catch(() => undefined));
    await Promise.all(closing);
    await this.resources.release(l.snapshot.resources);
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
