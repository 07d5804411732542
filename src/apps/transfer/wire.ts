import { ChunkQueue } from "../../codec/chunk-queue.ts";
import { RecordOpener, RecordSealer } from "../../codec/sealed-records.ts";
import { IncompleteReadError } from "../../core/errors.ts";
import type { BufferedReader } from "../../socket/buffered-reader.ts";
import type { Socket } from "../../socket/socket.ts";

/**
 * What a transfer's bytes travel on once the handshake is done: the connection itself,
 * or the same connection in encrypted, authenticated records when the sides share a
 * secret. The channel's messages and the files' data both go through it.
 */
export interface Wire {
  /** Sends every byte of `parts`, in order, as one write where it can. */
  sendall(...parts: Buffer[]): Promise<void>;
  /** Exactly `n` bytes; `IncompleteReadError` (with what came) if the stream ends first. */
  readexactly(n: number): Promise<Buffer>;
  /** Up to `max` bytes, at least one; an empty Buffer at end of stream. */
  recv(max: number): Promise<Buffer>;
  /** True when the connection's own bytes are what move (the native bulk path may take them). */
  readonly plain: boolean;
}

/** The connection as it is. */
export class PlainWire implements Wire {
  readonly plain = true;
  readonly #conn: Socket;
  readonly #rfile: BufferedReader;

  constructor(conn: Socket, rfile: BufferedReader) {
    this.#conn = conn;
    this.#rfile = rfile;
  }

  sendall(...parts: Buffer[]): Promise<void> {
    return this.#conn.sendall(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
  }

  readexactly(n: number): Promise<Buffer> {
    return this.#rfile.readexactly(n);
  }

  recv(max: number): Promise<Buffer> {
    return this.#conn.recv(max);
  }
}

/** What one read of the connection asks for when records are being filled. */
const RECORD_READ = 256 * 1024;

/**
 * The connection in ChaCha20-Poly1305 records (src/codec/sealed-records.ts), one key each
 * way: a byte changed, dropped, replayed or reordered by anyone on the path fails the
 * record's check, and nothing of it is handed on.
 */
export class SealedWire implements Wire {
  readonly plain = false;
  readonly #conn: Socket;
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  /** Plaintext opened but not yet read. */
  readonly #have = new ChunkQueue();
  #eof = false;

  /** `buffered`: records' bytes already read from `conn` by someone else, which come first. */
  constructor(conn: Socket, sendKey: Uint8Array, receiveKey: Uint8Array, buffered?: Buffer) {
    this.#conn = conn;
    this.#sealer = new RecordSealer(sendKey);
    this.#opener = new RecordOpener(receiveKey);
    if (buffered !== undefined && buffered.length > 0) this.#opener.push(buffered);
  }

  async sendall(...parts: Buffer[]): Promise<void> {
    const plain = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    const records = this.#sealer.seal(plain);
    if (records.length > 0) await this.#conn.sendall(Buffer.concat(records));
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

  /** Opens at least one more record: false at the end of the stream. */
  async #fill(): Promise<boolean> {
    for (;;) {
      const before = this.#have.length;
      for (let plain = this.#opener.next(); plain !== undefined; plain = this.#opener.next()) {
        if (plain.length > 0) this.#have.push(plain);
      }
      if (this.#have.length > before) return true;
      if (this.#eof) return false;
      const chunk = await this.#conn.recv(RECORD_READ);
      if (chunk.length === 0) this.#eof = true;
      else this.#opener.push(chunk);
    }
  }
}
