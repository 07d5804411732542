import { ChunkQueue } from "../../codec/chunk-queue.ts";
import { IncompleteReadError } from "../../core/errors.ts";
import type { Wire } from "../transfer/wire.ts";
import type { RecordPipe } from "./transit.ts";

/** Plaintext bytes in one transit record, at most (wormhole's own are 16 KiB). */
const RECORD = 256 * 1024;

/**
 * A transit connection's records as a byte stream, for socketkit's own transfer protocol
 * between two socketkit peers that met through a code: what is sent is cut into records,
 * what comes is the records' plaintext end to end. The transit already encrypts and
 * authenticates every record under a key from the wormhole's SPAKE2, so the transfer's
 * messages and data go in them as they would on a plain connection.
 *
 * @example
 * ```ts
 * import { Channel } from "../transfer/channel.ts";
 * import { RecordWire } from "./record-wire.ts";
 * declare const pipe: import("./transit.ts").RecordPipe; // from Transit.connect()
 * const channel = new Channel(pipe.socket, "sender", pipe.description, 30, new RecordWire(pipe));
 * await channel.handshake(null);
 * ```
 */
export class RecordWire implements Wire {
  /** Records, not the connection's own bytes: the native bulk path must not take them. */
  readonly plain = false;
  readonly #pipe: RecordPipe;
  /** Plaintext of records opened but not yet read. */
  readonly #have = new ChunkQueue();
  #eof = false;

  constructor(pipe: RecordPipe) {
    this.#pipe = pipe;
  }

  async sendall(...parts: Buffer[]): Promise<void> {
    const data = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    if (data.length === 0) return;
    const records: Buffer[] = [];
    for (let at = 0; at < data.length; at += RECORD)
      records.push(data.subarray(at, Math.min(data.length, at + RECORD)));
    await this.#pipe.sendMany(records);
  }

  async readexactly(n: number): Promise<Buffer> {
    while (this.#have.length < n) {
      if (!(await this.#fill())) throw new IncompleteReadError(this.#have.take(n), n);
    }
    return this.#have.take(n);
  }

  async recv(max: number): Promise<Buffer> {
    if (this.#have.length === 0 && !(await this.#fill())) return Buffer.alloc(0);
    return this.#have.take(max);
  }

  /** Opens the next record that holds bytes: false at the end of the stream. */
  async #fill(): Promise<boolean> {
    while (!this.#eof) {
      const record = await this.#pipe.receive();
      if (record === null) this.#eof = true;
      else if (record.length > 0) {
        this.#have.push(record);
        return true;
      }
    }
    return false;
  }
}
