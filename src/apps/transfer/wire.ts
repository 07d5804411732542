import { ChunkQueue } from "../../codec/chunk-queue.ts";
import {
  MAX_RECORD_PLAINTEXT,
  RecordOpener,
  RecordSealer,
  sealedLength,
} from "../../codec/sealed-records.ts";
import { IncompleteReadError } from "../../core/errors.ts";
import type { BufferedReader } from "../../socket/buffered-reader.ts";
import { bulkReader, bulkWriter } from "../../socket/bulk.ts";
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
  /**
   * Receives exactly `length` bytes of a file's data (when the wire has a way of its own;
   * else the caller uses `recv`), handing them to `take` in pieces of up to a megabyte;
   * a piece's buffer is filled again once the promise `take` returned has settled.
   * Resolves with the bytes taken, fewer only when the stream ended first.
   */
  receiveData?(length: number, take: (piece: Buffer) => Promise<void>): Promise<number>;
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

/** Plaintext of the largest sends that reuse a buffer of the wire's (a file's chunk). */
const SPARE_PLAIN = 1024 * 1024;
/** Bytes of a reused send buffer: {@link SPARE_PLAIN} bytes sealed. */
const SPARE_SIZE = sealedLength(SPARE_PLAIN);
/** Send buffers kept for reuse: as many as a sender has chunks in flight. */
const SPARES = 3;
/** Sends this big are written on the thread pool, where the addon is there. */
const BULK_SEND = 64 * 1024;

/**
 * What {@link SealedWire.receiveData} reads into: four records of the most plaintext, so
 * that a sender's megabyte chunk comes in one buffer; at least a record (a partial record
 * is moved to the front of the other buffer, and the rest of it read after).
 */
const WIRE_BUFFER = sealedLength(4 * MAX_RECORD_PLAINTEXT);
/** Bytes of the plaintext pieces {@link SealedWire.receiveData} hands on. */
const PIECE = 1024 * 1024;
/** Plaintext pieces in rotation: one filled while the others are written. */
const PIECES = 3;

/**
 * The connection in ChaCha20-Poly1305 records (src/codec/sealed-records.ts), one key each
 * way: a byte changed, dropped, replayed or reordered by anyone on the path fails the
 * record's check, and nothing of it is handed on.
 *
 * A file's data takes a path of its own both ways, so that the event loop does the
 * cipher and the hashing while the thread pool (with the addon) moves bytes: a send is
 * sealed at once into a reused buffer and written behind the sends before it, and
 * {@link SealedWire.receiveData} reads the connection into two buffers of its own (one
 * read while the records of the other are opened) and hands the plaintext on in
 * megabyte pieces. Memory stays bounded by those few buffers, whatever the file's size.
 */
export class SealedWire implements Wire {
  readonly plain = false;
  readonly #conn: Socket;
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  /** Plaintext opened but not yet read. */
  readonly #have = new ChunkQueue();
  #eof = false;
  /** The last write: each waits for the one before, so records go out in their order. */
  #writing: Promise<void> = Promise.resolve();
  /** Send buffers of {@link SPARE_SIZE} bytes, written and free again. */
  readonly #spares: Buffer[] = [];

  /** `buffered`: records' bytes already read from `conn` by someone else, which come first. */
  constructor(conn: Socket, sendKey: Uint8Array, receiveKey: Uint8Array, buffered?: Buffer) {
    this.#conn = conn;
    this.#sealer = new RecordSealer(sendKey);
    this.#opener = new RecordOpener(receiveKey);
    if (buffered !== undefined && buffered.length > 0) this.#opener.push(buffered);
  }

  /**
   * Seals `parts` at once (they may be reused as soon as this returns) and writes the
   * records after those of every earlier call; resolves once they are handed to the
   * kernel. A write that fails fails every one after it.
   */
  sendall(...parts: Buffer[]): Promise<void> {
    const plain = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    if (plain.length === 0) return this.#writing;
    const length = sealedLength(plain.length);
    const spare = length <= SPARE_SIZE && plain.length >= BULK_SEND;
    const out = spare
      ? (this.#spares.pop() ?? Buffer.allocUnsafe(SPARE_SIZE))
      : Buffer.allocUnsafe(length);
    try {
      this.#sealer.sealInto(plain, out, 0);
    } catch (err) {
      return Promise.reject(err);
    }
    const records = out.subarray(0, length);
    const written = this.#writing.then(() => this.#write(records));
    this.#writing = written;
    if (!spare) return written;
    return written.then(() => {
      if (this.#spares.length < SPARES) this.#spares.push(out);
    });
  }

  async #write(records: Buffer): Promise<void> {
    if (records.length >= BULK_SEND) {
      const bulk = await bulkWriter(this.#conn);
      if (bulk !== null) return bulk.sendall(records);
    }
    return this.#conn.sendall(records);
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

  async receiveData(length: number, take: (piece: Buffer) => Promise<void>): Promise<number> {
    const due = new Due(length, this.#have, take);
    // First what was opened or read before.
    while (due.left > 0 && this.#have.length > 0) await due.put(this.#have.take(due.left));
    for (let plain = due.left > 0 ? this.#opener.next() : undefined; plain !== undefined; ) {
      await due.put(plain);
      plain = due.left > 0 ? this.#opener.next() : undefined;
    }
    if (due.left > 0 && !this.#eof) await this.#receiveRecords(due);
    await due.flush();
    return length - due.left;
  }

  /**
   * {@link SealedWire.receiveData} once the opener holds no whole record: the connection
   * read into two buffers of {@link WIRE_BUFFER} bytes by turns (on the thread pool with
   * the addon), the records of one opened while the other is read into. A read is made
   * only while more records are due, and what came past the data goes back to the opener.
   */
  async #receiveRecords(due: Due): Promise<void> {
    const bulk = bulkReader(this.#conn);
    const read = (buf: Buffer, at: number): Promise<number> => {
      if (bulk === null) return this.#conn.recv_into(buf.subarray(at));
      const early = bulk.takeBuffered(buf.length - at);
      if (early.length > 0) return Promise.resolve(early.copy(buf, at));
      return bulk.recvInto(buf, at, buf.length - at);
    };
    const buffers = [Buffer.allocUnsafe(WIRE_BUFFER), Buffer.allocUnsafe(WIRE_BUFFER)];
    let turn = 0;
    let filled = this.#opener.takeUnopened().copy(buffers[0] as Buffer);
    let reading: Promise<number> | null = read(buffers[0] as Buffer, filled);
    try {
      while (reading !== null) {
        const buf = buffers[turn] as Buffer;
        const n = await reading;
        reading = null;
        if (n === 0) {
          this.#eof = true;
          this.#opener.push(buf.subarray(0, filled));
          return;
        }
        filled += n;
        const whole = this.#opener.wholeRecords(buf, 0, filled);
        const more = whole.plain < due.left;
        let next = filled;
        if (more) {
          if (whole.end === 0) {
            // Not one whole record yet: read on into this buffer (it holds a record).
            reading = read(buf, filled);
            continue;
          }
          // The partial record moves to the other buffer, read into while these open.
          next = buf.copy(buffers[turn ^ 1] as Buffer, 0, whole.end, filled);
          reading = read(buffers[turn ^ 1] as Buffer, next);
        }
        const plains: Buffer[] = [];
        let opened = 0;
        const stop = this.#opener.openEach(buf, 0, whole.end, (plain) => {
          plains.push(plain);
          opened += plain.length;
          return opened < due.left;
        });
        for (const plain of plains) await due.put(plain);
        if (!more) {
          // The data ended in these records: the rest is for readexactly (this buffer
          // is not read into again).
          this.#opener.push(buf.subarray(stop, filled));
          return;
        }
        turn ^= 1;
        filled = next;
      }
    } finally {
      // Reading goes back to the socket only once the addon has stopped reading.
      await reading?.catch(() => {});
      bulk?.release();
    }
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

/**
 * The plaintext of a file's data as it comes, for a `take` (hash, then write to disk):
 * gathered into {@link PIECES} buffers by turns; a full buffer goes to `take` and is
 * filled again once what `take` returned has settled. Plaintext past the data (the next
 * message, in the same record) goes back to the wire's opened bytes.
 */
class Due {
  /** Bytes of the data not yet put. */
  left: number;
  readonly #have: ChunkQueue;
  readonly #take: (piece: Buffer) => Promise<void>;
  readonly #buffers: Buffer[];
  readonly #free: Promise<void>[];
  #turn = 0;
  #filled = 0;

  constructor(length: number, have: ChunkQueue, take: (piece: Buffer) => Promise<void>) {
    this.left = length;
    this.#have = have;
    this.#take = take;
    const size = Math.min(PIECE, length);
    this.#buffers = Array.from({ length: size > 0 ? PIECES : 0 }, () => Buffer.allocUnsafe(size));
    this.#free = this.#buffers.map(() => Promise.resolve());
  }

  /** Copies in what of `plain` is data, handing on each buffer it fills. */
  async put(plain: Buffer): Promise<void> {
    let data = plain;
    if (plain.length > this.left) {
      this.#have.push(plain.subarray(this.left));
      data = plain.subarray(0, this.left);
    }
    this.left -= data.length;
    for (let at = 0; at < data.length; ) {
      if (this.#filled === 0) await this.#free[this.#turn];
      const buf = this.#buffers[this.#turn] as Buffer;
      const n = data.copy(buf, this.#filled, at);
      this.#filled += n;
      at += n;
      if (this.#filled === buf.length) this.#handOn();
    }
  }

  /** Hands on what is gathered and waits until every piece is taken. */
  async flush(): Promise<void> {
    if (this.#filled > 0) this.#handOn();
    await Promise.all(this.#free);
  }

  #handOn(): void {
    const piece = (this.#buffers[this.#turn] as Buffer).subarray(0, this.#filled);
    const taken = this.#take(piece);
    // Awaited before the buffer is filled again, or by flush.
    taken.catch(() => {});
    this.#free[this.#turn] = taken;
    this.#turn = (this.#turn + 1) % PIECES;
    this.#filled = 0;
  }
}
