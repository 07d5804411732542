/**
 * Datagrams staged for one `sendmmsg` of the native reactor: a server answering a batch of
 * datagrams adds each reply here (copied, with its destination's raw sockaddr) and sends
 * them all in one system call from {@link Reactor.afterBatch}.
 * @module
 */
import type { Reactor } from "./reactor.ts";

/** Options of {@link DatagramBatch}. */
export interface DatagramBatchOptions {
  /**
   * Bytes (payloads and addresses) the batch may hold; `add` refuses a datagram past it.
   * @default 4194304
   */
  maxBytes?: number;
}

/**
 * Datagrams waiting for one `sendmmsg`, in one reused Buffer. What a partial send leaves
 * stays, first in line, for the next {@link flush}.
 *
 * @example
 * ```ts
 * import { DatagramBatch } from "./datagram-batch.ts";
 * import { Reactor } from "./reactor.ts";
 *
 * // An echo server's handler: every reply of a batch in one system call.
 * function echo(reactor: Reactor, id: number) {
 *   const replies = new DatagramBatch();
 *   const flush = () => {
 *     if (replies.flush(reactor, id) === -1) reactor.wantWritable(id);
 *   };
 *   return {
 *     onDatagram(data: Buffer, from: Buffer) {
 *       if (replies.length === 0) reactor.afterBatch(flush);
 *       replies.add(data, from);
 *     },
 *     onWritable: flush,
 *   };
 * }
 * ```
 */
export class DatagramBatch {
  #data = Buffer.allocUnsafe(16384);
  #spans = new Int32Array(4 * 64);
  #used = 0;
  #count = 0;
  #first = 0;
  readonly #maxBytes: number;

  constructor(options: DatagramBatchOptions = {}) {
    this.#maxBytes = options.maxBytes ?? 4194304;
  }

  /** Datagrams waiting. */
  get length(): number {
    return this.#count - this.#first;
  }

  /**
   * Copies `data` and its destination (raw sockaddr bytes, or null on a connected socket)
   * in: false, with nothing added, when that would pass `maxBytes` (flush first).
   */
  add(data: Uint8Array, address: Uint8Array | null): boolean {
    const alen = address === null ? 0 : address.byteLength;
    const need = this.#used + data.byteLength + alen;
    if (need > this.#maxBytes) return false;
    if (need > this.#data.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.#maxBytes, Math.max(need, 2 * this.#data.length)),
      );
      this.#data.copy(grown, 0, 0, this.#used);
      this.#data = grown;
    }
    if (4 * (this.#count + 1) > this.#spans.length) {
      const grown = new Int32Array(2 * this.#spans.length);
      grown.set(this.#spans);
      this.#spans = grown;
    }
    const at = 4 * this.#count++;
    const spans = this.#spans;
    spans[at] = this.#used;
    spans[at + 1] = data.byteLength;
    this.#data.set(data, this.#used);
    this.#used += data.byteLength;
    spans[at + 2] = this.#used;
    spans[at + 3] = alen;
    if (address !== null) this.#data.set(address, this.#used);
    this.#used += alen;
    return true;
  }

  /**
   * Sends what waits from the datagram socket `id`: how many went (all of them, or fewer
   * when the kernel took fewer: the rest wait), 0 when none waited, -1 when none could
   * go (ask `wantWritable`). When the first datagram fails, it is dropped and its error
   * thrown; the rest wait.
   */
  flush(reactor: Reactor, id: number): number {
    const waiting = this.#count - this.#first;
    if (waiting === 0) return 0;
    let sent: number;
    try {
      sent = reactor.sendmmsg(id, this.#data, this.#spans.subarray(4 * this.#first), waiting);
    } catch (err) {
      this.#skip(1);
      throw err;
    }
    if (sent > 0) this.#skip(sent);
    return sent;
  }

  /** Drops every datagram waiting. */
  clear(): void {
    this.#used = 0;
    this.#count = 0;
    this.#first = 0;
  }

  #skip(n: number): void {
    this.#first += n;
    if (this.#first >= this.#count) this.clear();
  }
}
