// Request headers bound for the upstream, kept as a flat [name, value, ...] list: the order and duplicates a
// client sent survive, and undici takes the list as is.

export class HeaderList {
  /** Flat list: even indexes are names (original case), odd indexes values. */
  readonly raw: string[];

  constructor(raw: string[] = []) {
    this.raw = raw;
  }

  /** First value of `name` (case-insensitive), or undefined. */
  get(name: string): string | undefined {
    const raw = this.raw;
    const lower = name.toLowerCase();
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!;
      if (n.length === lower.length && n.toLowerCase() === lower) return raw[i + 1];
    }
    return undefined;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const raw = this.raw;
    const lower = name.toLowerCase();
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!;
      if (n.length === lower.length && n.toLowerCase() === lower) out.push(raw[i + 1]!);
    }
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Replaces every value of `name` with one value. */
  set(name: string, value: string): void {
    this.delete(name);
    this.raw.push(name, value);
  }

  /** Adds a value, keeping existing ones. */
  append(name: string, value: string): void {
    this.raw.push(name, value);
  }

  /** Removes every value of `name`; returns whether any was present. */
  delete(name: string): boolean {
    const raw = this.raw;
    const lower = name.toLowerCase();
    let w = 0;
    for (let r = 0; r < raw.length; r += 2) {
      const n = raw[r]!;
      if (n.length === lower.length && n.toLowerCase() === lower) continue;
      if (w !== r) {
        raw[w] = n;
        raw[w + 1] = raw[r + 1]!;
      }
      w += 2;
    }
    const removed = w !== raw.length;
    raw.length = w;
    return removed;
  }

  /** Removes every header whose lower-cased name passes `test`; returns whether any was removed. */
  deleteWhere(test: (lowerName: string) => boolean): boolean {
    const raw = this.raw;
    let w = 0;
    for (let r = 0; r < raw.length; r += 2) {
      const n = raw[r]!;
      if (test(n.toLowerCase())) continue;
      if (w !== r) {
        raw[w] = n;
        raw[w + 1] = raw[r + 1]!;
      }
      w += 2;
    }
    const removed = w !== raw.length;
    raw.length = w;
    return removed;
  }
}
