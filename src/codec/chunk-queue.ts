/**
 * A FIFO of received Buffers read from the front without `Buffer.concat` per chunk:
 * bytes inside one chunk are handed out as `subarray` views, and a copy is made only
 * when a read spans chunks (as ws's Receiver does).
 *
 * @example
 * ```ts
 * import { ChunkQueue } from "./chunk-queue.ts";
 * const q = new ChunkQueue();
 * q.push(Buffer.from("hel"));
 * q.push(Buffer.from("lo\n"));
 * q.indexOf(0x0a); // 5
 * q.take(6).toString(); // "hello\n"
 * ```
 */
export class ChunkQueue {
  #chunks: Buffer[] = [];
  /** Index of the first live chunk in #chunks (shifting arrays is O(n), so we advance). */
  #head = 0;
  /** Bytes of #chunks[#head] already consumed. */
  #offset = 0;
  #length = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Number of chunks held; with `chunk(i)` and `headOffset`, for scanners such as `LineSplitter`. */
  get chunkCount(): number {
    return this.#chunks.length - this.#head;
  }

  /** The i-th chunk held, whole: the first one's unread bytes start at `headOffset`. */
  chunk(i: number): Buffer | undefined {
    return this.#chunks[this.#head + i];
  }

  /** Bytes of the first chunk already consumed. */
  get headOffset(): number {
    return this.#offset;
  }

  /** Appends a chunk (kept by reference, not copied). */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Puts a chunk back in front (what a reader took but could not use). */
  unshift(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#offset > 0) {
      this.#chunks[this.#head] = (this.#chunks[this.#head] as Buffer).subarray(this.#offset);
      this.#offset = 0;
    }
    if (this.#head > 0) this.#chunks[--this.#head] = chunk;
    else this.#chunks.unshift(chunk);
    this.#length += chunk.length;
  }

  /** Drops everything. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.#length = 0;
  }

  /**
   * Position of the first occurrence of `needle` (a byte or a byte sequence) at or after
   * `from`, counted from the front of the queue; -1 when absent.
   */
  indexOf(needle: number | Buffer, from = 0): number {
    if (typeof needle === "number") return this.#indexOfByte(needle, from);
    if (needle.length === 1) return this.#indexOfByte(needle[0] as number, from);
    return this.#indexOfSequence(needle, from);
  }

  #indexOfByte(byte: number, from: number): number {
    let base = 0;
    for (let i = this.#head; i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i] as Buffer;
      const start = i === this.#head ? this.#offset : 0;
      const size = chunk.length - start;
      if (from < base + size) {
        const at = chunk.indexOf(byte, start + Math.max(0, from - base));
        if (at !== -1) return base + at - start;
      }
      base += size;
    }
    return -1;
  }

  #indexOfSequence(needle: Buffer, from: number): number {
    if (needle.length === 0) return from <= this.#length ? from : -1;
    // Separators are short: look for the first byte, then compare across chunk edges.
    const first = needle[0] as number;
    let at = this.#indexOfByte(first, from);
    while (at !== -1 && at + needle.length <= this.#length) {
      if (this.#matches(needle, at)) return at;
      at = this.#indexOfByte(first, at + 1);
    }
    return -1;
  }

  #matches(needle: Buffer, at: number): boolean {
    for (let k = 1; k < needle.length; k++) {
      if (this.byteAt(at + k) !== needle[k]) return false;
    }
    return true;
  }

  /** The byte at a position from the front (position must be < length). */
  byteAt(position: number): number {
    let pos = position;
    for (let i = this.#head; i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i] as Buffer;
      const start = i === this.#head ? this.#offset : 0;
      const size = chunk.length - start;
      if (pos < size) return chunk[start + pos] as number;
      pos -= size;
    }
    throw new RangeError(`Cannot read byte ${position}: queue holds ${this.#length}`);
  }

  /**
   * Removes and returns up to `n` bytes from the front: a view when they lie in one chunk,
   * else one copy. Returns an empty Buffer when the queue is empty or `n` is 0.
   */
  take(n: number): Buffer {
    const count = Math.min(n, this.#length);
    if (count <= 0) return EMPTY;
    const chunk = this.#chunks[this.#head] as Buffer;
    const available = chunk.length - this.#offset;
    if (count <= available) {
      // The whole chunk as it came: hand it over without making a view.
      const out =
        this.#offset === 0 && count === chunk.length
          ? chunk
          : chunk.subarray(this.#offset, this.#offset + count);
      this.#advance(count);
      return out;
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const c = this.#chunks[this.#head] as Buffer;
      const n2 = Math.min(c.length - this.#offset, count - filled);
      c.copy(out, filled, this.#offset, this.#offset + n2);
      filled += n2;
      this.#advance(n2);
    }
    return out;
  }

  /**
   * Removes up to `n` bytes from the front into `target` at `at`, copying once; returns
   * how many (fewer when the queue holds fewer).
   */
  takeInto(target: Uint8Array, at: number, n: number): number {
    const count = Math.min(n, this.#length, target.byteLength - at);
    let filled = 0;
    while (filled < count) {
      const c = this.#chunks[this.#head] as Buffer;
      const step = Math.min(c.length - this.#offset, count - filled);
      target.set(c.subarray(this.#offset, this.#offset + step), at + filled);
      filled += step;
      this.#advance(step);
    }
    return count;
  }

  /** Removes `n` bytes from the front without returning them. */
  skip(n: number): void {
    let left = Math.min(n, this.#length);
    while (left > 0) {
      const c = this.#chunks[this.#head] as Buffer;
      const step = Math.min(c.length - this.#offset, left);
      this.#advance(step);
      left -= step;
    }
  }

  /** Advances within the head chunk; `n` must not exceed what the head chunk has left. */
  #advance(n: number): void {
    this.#offset += n;
    this.#length -= n;
    const head = this.#chunks[this.#head] as Buffer;
    if (this.#offset === head.length) {
      this.#chunks[this.#head] = EMPTY;
      this.#head++;
      this.#offset = 0;
      if (this.#head === this.#chunks.length) {
        this.#chunks.length = 0;
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
        this.#chunks = this.#chunks.slice(this.#head);
        this.#head = 0;
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);
