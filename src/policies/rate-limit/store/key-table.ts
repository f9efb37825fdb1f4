// Where the memory stores keep per-key state without an object per key: Maps from key to a slot number, a
// few float64 fields per slot in typed-array pages, and the slots linked in least-recently-touched order, so
// the oldest can be evicted at the cap and idle state swept a slice at a time without iterating a Map.
// Growing never copies more than one page or rehashes more than one shard: no pause grows with the key count.

const NONE = -1;
/** Float64 fields per slot: the caller's three, then DEAD_AT. */
const FIELDS = 4;
/** The field holding the time from which a slot's state is the same as no state (the sweep drops it). */
export const DEAD_AT = 3;
const PAGE_BITS = 12;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;
/** 32 Maps: V8 rehashes a Map all at once when it doubles, ~60 ms at 512k keys; a shard is 1/32 of that. */
const SHARD_SHIFT = 27;

/** 4096 slots' state: 164 KiB, allocated when the table grows past the pages it has. */
export class SlotPage {
  /** Slot `s` owns `numbers[fieldsAt(s)]` to `numbers[fieldsAt(s) + FIELDS - 1]`. */
  readonly numbers = new Float64Array(PAGE_SLOTS * FIELDS);
  /** A caller-chosen tag per slot (what its fields mean), at `tags[tagAt(s)]`; 0 when just inserted. */
  readonly tags = new Uint8Array(PAGE_SLOTS);
  /** Recency list neighbours; free slots are chained through `newer`. */
  readonly older = new Int32Array(PAGE_SLOTS);
  readonly newer = new Int32Array(PAGE_SLOTS);
  /** The key of each slot ('' when free), to delete it from its Map on eviction without iterating. */
  readonly keys: string[] = new Array<string>(PAGE_SLOTS).fill('');
}

/** Where slot `slot`'s fields start in its page's `numbers`. */
export function fieldsAt(slot: number): number {
  return (slot & PAGE_MASK) * FIELDS;
}

/** Where slot `slot`'s tag is in its page's `tags`. */
export function tagAt(slot: number): number {
  return slot & PAGE_MASK;
}

/** The shard of a key, from its last four characters (where the client part of a rate-limit key is). */
function shardOf(key: string): number {
  const n = key.length;
  if (n < 4) return n === 0 ? 0 : Math.imul(key.charCodeAt(n - 1) + n, 0x9e3779b1) >>> SHARD_SHIFT;
  const h =
    key.charCodeAt(n - 1) +
    31 * key.charCodeAt(n - 2) +
    961 * key.charCodeAt(n - 3) +
    29791 * key.charCodeAt(n - 4);
  return Math.imul(h, 0x9e3779b1) >>> SHARD_SHIFT;
}

export class KeyTable {
  private readonly shards: Map<string, number>[] = Array.from(
    { length: 2 ** (32 - SHARD_SHIFT) },
    () => new Map<string, number>(),
  );
  private pages: SlotPage[] = [new SlotPage()];
  private count = 0;
  private oldest = NONE;
  private newest = NONE;
  private free = NONE;
  /** Slots handed out at least once since the pages were (re)built. */
  private used = 0;
  /** Next slot the sweep visits; kept valid when that slot is touched or removed. */
  private cursor = NONE;
  private sweeping = false;

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.count;
  }

  /** The page holding `slot` (index it with `fieldsAt` / `tagAt`). */
  page(slot: number): SlotPage {
    return this.pages[slot >>> PAGE_BITS]!;
  }

  /** The slot holding `key`, or -1. */
  find(key: string): number {
    const slot = this.shards[shardOf(key)]!.get(key);
    return slot === undefined ? NONE : slot;
  }

  /** Whether `slot` still belongs to `key` (it may have been evicted and reused since it was found). */
  holds(slot: number, key: string): boolean {
    return this.page(slot).keys[slot & PAGE_MASK] === key;
  }

  /** Marks `slot` as the most recently used. */
  touch(slot: number): void {
    if (slot === this.newest) return;
    this.unlink(slot);
    this.linkNewest(slot);
  }

  /**
   * A slot for `key`, which must not be in the table, as the most recently used, with tag 0. At `maxKeys` the
   * least recently touched key is evicted to make room, whether or not its state was dead.
   */
  insert(key: string): number {
    let slot = this.free;
    if (slot !== NONE) this.free = this.page(slot).newer[slot & PAGE_MASK]!;
    else if (this.used < this.maxKeys) {
      slot = this.used++;
      if (slot >>> PAGE_BITS === this.pages.length) this.pages.push(new SlotPage());
    } else {
      slot = this.oldest;
      this.unlink(slot);
      const keys = this.page(slot).keys;
      this.shards[shardOf(keys[slot & PAGE_MASK]!)]!.delete(keys[slot & PAGE_MASK]!);
      this.count--;
    }
    const page = this.page(slot);
    page.keys[slot & PAGE_MASK] = key;
    page.tags[slot & PAGE_MASK] = 0;
    this.linkNewest(slot);
    this.shards[shardOf(key)]!.set(key, slot);
    this.count++;
    return slot;
  }

  /**
   * Drops slots whose DEAD_AT is at or before `now`, oldest first, visiting at most `budget` slots of the
   * current pass (a new pass starts at the oldest). True when the pass is complete.
   */
  sweep(now: number, budget: number): boolean {
    if (!this.sweeping) {
      this.sweeping = true;
      this.cursor = this.oldest;
    }
    let slot = this.cursor;
    this.cursor = NONE; // remove() below must not move it
    for (; slot !== NONE && budget > 0; budget--) {
      const page = this.page(slot);
      const next = page.newer[slot & PAGE_MASK]!;
      if (page.numbers[fieldsAt(slot) + DEAD_AT]! <= now) this.remove(slot);
      slot = next;
    }
    this.cursor = slot;
    if (slot !== NONE) return false;
    this.sweeping = false;
    // Give pages back once nearly idle; renumbering a few thousand keys costs what one sweep slice does.
    if (this.pages.length > 1 && this.count <= PAGE_SLOTS / 2) this.compact();
    return true;
  }

  /** A full pass from the oldest slot, abandoning any pass in progress. */
  sweepAll(now: number): void {
    this.sweeping = false;
    this.sweep(now, Infinity);
  }

  private remove(slot: number): void {
    this.unlink(slot);
    const page = this.page(slot);
    const key = page.keys[slot & PAGE_MASK]!;
    this.shards[shardOf(key)]!.delete(key);
    this.count--;
    page.keys[slot & PAGE_MASK] = '';
    page.newer[slot & PAGE_MASK] = this.free;
    this.free = slot;
  }

  private unlink(slot: number): void {
    const page = this.page(slot);
    const older = page.older[slot & PAGE_MASK]!;
    const newer = page.newer[slot & PAGE_MASK]!;
    if (slot === this.cursor) this.cursor = newer;
    if (older === NONE) this.oldest = newer;
    else this.page(older).newer[older & PAGE_MASK] = newer;
    if (newer === NONE) this.newest = older;
    else this.page(newer).older[newer & PAGE_MASK] = older;
  }

  private linkNewest(slot: number): void {
    const page = this.page(slot);
    page.older[slot & PAGE_MASK] = this.newest;
    page.newer[slot & PAGE_MASK] = NONE;
    if (this.newest === NONE) this.oldest = slot;
    else this.page(this.newest).newer[this.newest & PAGE_MASK] = slot;
    this.newest = slot;
  }

  /** Moves the (at most one page of) live slots into a fresh first page, in recency order, dropping the rest. */
  private compact(): void {
    const to = new SlotPage();
    let n = 0;
    for (let from = this.oldest; from !== NONE; n++) {
      const page = this.page(from);
      const at = fieldsAt(from);
      for (let f = 0; f < FIELDS; f++) to.numbers[n * FIELDS + f] = page.numbers[at + f]!;
      to.tags[n] = page.tags[from & PAGE_MASK]!;
      to.older[n] = n - 1;
      to.newer[n] = n + 1;
      const key = page.keys[from & PAGE_MASK]!;
      to.keys[n] = key;
      this.shards[shardOf(key)]!.set(key, n);
      from = page.newer[from & PAGE_MASK]!;
    }
    if (n > 0) to.newer[n - 1] = NONE;
    this.pages = [to];
    this.oldest = n > 0 ? 0 : NONE;
    this.newest = n - 1;
    this.free = NONE;
    this.used = n;
  }
}
