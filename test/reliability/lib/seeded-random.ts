/**
 * Seeded pseudo-random numbers for the reliability programs: the same seed gives the same
 * choices everywhere, so a run that found something can be replayed from its printed seed.
 * @module
 */

/** FNV-1a of a label, to derive independent streams from one seed. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * mulberry32: small, fast, and good enough to pick faults and payloads.
 *
 * @example
 * ```ts
 * const random = new SeededRandom(42);
 * const faults = random.fork("faults of the echo route"); // its own stream
 * random.int(1, 7); // 1 to 6
 * ```
 */
export class SeededRandom {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let x = this.#state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [from, to). */
  int(from: number, to: number): number {
    return from + Math.floor(this.next() * (to - from));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length)] as T;
  }

  /** One of the keys of `weights`, chosen in proportion to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let total = 0;
    for (const [, w] of entries) total += w;
    let at = this.next() * total;
    for (const [key, w] of entries) {
      at -= w;
      if (at < 0) return key;
    }
    return (entries[entries.length - 1] as [K, number])[0];
  }

  /** `size` bytes from this stream. */
  bytes(size: number): Buffer {
    const data = Buffer.allocUnsafe(size);
    let i = 0;
    for (; i + 4 <= size; i += 4) data.writeUInt32LE(Math.floor(this.next() * 2 ** 32), i);
    for (; i < size; i++) data[i] = this.int(0, 256);
    return data;
  }

  /** An independent stream for `label`, the same for the same seed and label. */
  fork(label: string): SeededRandom {
    return new SeededRandom((this.seed ^ hashLabel(label)) >>> 0);
  }
}
