import { BaseRequestHandler } from "./base-request-handler.ts";
import type { DatagramRequest } from "./udp-server.ts";

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

/** Collects a reply; the handler's `finish()` sends it back to the client as one datagram. */
export class DatagramWriter {
  readonly parts: Buffer[] = [];

  /** Adds bytes to the reply. */
  async write(data: Buffer | string): Promise<void> {
    this.parts.push(typeof data === "string" ? Buffer.from(data) : data);
  }

  /** The reply so far. */
  getvalue(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * Python's `socketserver.DatagramRequestHandler`: `rfile.read()` returns the datagram,
 * and what is written to `wfile` goes back to the sender in one datagram.
 */
export class DatagramRequestHandler extends BaseRequestHandler<DatagramRequest> {
  /** The datagram. */
  rfile!: DatagramReader;
  /** The reply. */
  wfile!: DatagramWriter;

  override async setup(): Promise<void> {
    this.rfile = new DatagramReader(this.request[0]);
    this.wfile = new DatagramWriter();
  }

  override async finish(): Promise<void> {
    const reply = this.wfile.getvalue();
    if (reply.length > 0)
      await this.request[1].sendto(reply, this.clientAddress as [string, number]);
  }
}
