/** Reads one datagram as a file: `read()` gives all of it. */
export class DatagramReader {
  #data: Buffer;
  #pos = 0;

  constructor(data: Buffer) {
    this.#data = data;
  }

  /** Up to `n` bytes, or the rest of the datagram when `n` is left out. */
  async read(n = -1): Promise<Buffer> {
    const end = n < 0 ? this.#data.length : Math.min(this.#data.length, this.#pos + n);
    const out = this.#data.subarray(this.#pos, end);
    this.#pos = end;
    return out;
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
