/** Reads one datagram as a file: `read()` gives all of it. */
export class DatagramReader {
  #data: Buffer;
  #pos = 0;

  constructor(data: Buffer) {
    this.#data = data;
  }

  /** Up to `n` bytes, or the rest of the datagram when `n` is left out. */
  read(n = -1): Promise<Buffer> {
    const data = this.#data;
    const end = n < 0 ? data.length : Math.min(data.length, this.#pos + n);
    // The whole datagram (the usual read) is the datagram itself, not a view of it.
    const out = this.#pos === 0 && end === data.length ? data : data.subarray(this.#pos, end);
    this.#pos = end;
    return Promise.resolve(out);
  }

  /** The next line, with its `"\n"`; empty at the end. */
  async readline(): Promise<Buffer> {
    const at = this.#data.indexOf(0x0a, this.#pos);
    const end = at === -1 ? this.#data.length : at + 1;
    const out = this.#data.subarray(this.#pos, end);
    this.#pos = end;
    return out;
  }
}
