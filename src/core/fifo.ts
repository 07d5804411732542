/**
 * A first-in first-out queue whose memory follows what it holds: taking from the front
 * advances an index instead of shifting the array (O(1)), and the array is compacted once
 * the dead front is both large and most of it, so a queue that never quite empties does
 * not grow without bound.
 *
 * @example
 * ```ts
 * import { Fifo } from "./fifo.ts";
 * const q = new Fifo<string>();
 * q.push("a");
 * q.push("b");
 * q.shift(); // "a"
 * q.length; // 1
 * ```
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Items held. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds an item at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** The front item, left in place, or undefined when empty. */
  peek(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  /** Removes and returns the front item, or undefined when empty. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes everything. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
