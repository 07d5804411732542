import { IncompleteReadError, LineTooLongError, SocketError } from "../core/errors.ts";
import { kFileClosed, kStream, kTimeoutMs } from "./internal.ts";
import type { Socket } from "./socket.ts";
import type { DirectRead, StreamConnection } from "./stream-connection.ts";

/** Default longest line `readline` returns (64 KiB). */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

/** Options of {@link BufferedReader}. */
export interface BufferedReaderOptions {
  /** Default `maxLength` of `readline`, `readuntil` and line iteration. @default 65536 */
  maxLineLength?: number;
}

/** Options of `readline` and `readuntil`. */
export interface ReadlineOptions {
  /**
   * Most bytes before the separator. A longer line raises `LineTooLongError`; its bytes
   * are discarded up to its end, never buffered, and the next call returns the next line.
   * @default 65536 (or the reader's `maxLineLength`)
   */
  maxLength?: number;
}

const NEWLINE = Buffer.from("\n");

/**
 * The reading side of `socket.makefile("r")`, as Python's `BufferedReader` over a
 * socket: lines and exact byte counts over the socket's bounded buffer, with the
 * socket's timeout applied to each wait.
 *
 * It scans the socket's own queue rather than feeding `codec/`'s `LineSplitter`, because
 * Python's `readline` has other rules: only LF ends a line, the LF is kept, and the bytes
 * after a line stay in the socket for `read`/`recv` to take.
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * const conn = await createConnection(["127.0.0.1", 5000]);
 * const rfile = conn.makefile("r");
 * const line = await rfile.readline(); // Buffer ending in "\n", empty at EOF
 * const header = await rfile.readexactly(4); // IncompleteReadError if EOF comes first
 * for await (const l of rfile) console.log(l.toString());
 * ```
 */
export class BufferedReader {
  readonly #socket: Socket;
  readonly #maxLineLength: number;
  /** Discarding the rest of an over-long line (after LineTooLongError). */
  #skippingTo: Buffer | null = null;
  #closed = false;

  constructor(socket: Socket, options: BufferedReaderOptions = {}) {
    this.#socket = socket;
    this.#maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  }

  get #conn(): StreamConnection {
    if (this.#closed) {
      throw new SocketError("Cannot read: the file is closed (I/O operation on closed file)", {
        code: "EBADF",
      });
    }
    return this.#socket[kStream]();
  }

  /** True once {@link BufferedReader.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes this file; reading it again raises `SocketError` (`EBADF`). What was buffered
   * and not read stays in the socket for `recv`. As with Python, a socket closed while its
   * files are open is closed for real when the last of them closes.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#socket[kFileClosed](this);
  }

  /**
   * Waits for more bytes. Returns false at end of stream; throws the socket's error,
   * `TimeoutError` or `BlockingIOError`.
   */
  async #more(conn: StreamConnection, deadline: number | null): Promise<boolean> {
    if (conn.eof || conn.readShut) return false;
    conn.checkOpen("receive from");
    await conn.readers.wait(this.#socket[kTimeoutMs](deadline), `receive from ${conn.peerLabel}`);
    return true;
  }

  /**
   * Reads `n` bytes, fewer only at end of stream (Python's `read(n)`); with no argument
   * (or a negative one), everything up to end of stream.
   */
  async read(n = -1): Promise<Buffer> {
    const conn = this.#conn;
    const deadline = this.#socket.deadline();
    const parts: Buffer[] = [];
    let have = 0;
    const want = n < 0 ? Number.POSITIVE_INFINITY : n;
    try {
      while (have < want) {
        if (conn.queue.length > 0) {
          const part = conn.queue.take(want - have);
          conn.consumed();
          parts.push(part);
          have += part.length;
          continue;
        }
        if (!(await this.#more(conn, deadline))) break;
      }
    } catch (err) {
      // A timeout or an error must not lose what was already read: put it back in front.
      for (let i = parts.length - 1; i >= 0; i--) conn.queue.unshift(parts[i] as Buffer);
      throw err;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, have);
  }

  /** Reads exactly `n` bytes or throws `IncompleteReadError` carrying what did arrive. */
  async readexactly(n: number): Promise<Buffer> {
    const data = await this.read(n);
    if (data.length < n) throw new IncompleteReadError(data, n);
    return data;
  }

  /**
   * Reads one line, ending in `"\n"` (kept, as Python does); at end of stream, what is
   * left (an empty Buffer when nothing is). A line longer than `maxLength` raises
   * `LineTooLongError`.
   */
  readline(options: ReadlineOptions = {}): Promise<Buffer> {
    return this.#nextLine(options.maxLength ?? this.#maxLineLength, asIs);
  }

  /**
   * The next line, shaped by `wrap` (a Buffer for `readline`, an iterator result for
   * `for await`). The common case of a line protocol takes no detour: a line already
   * buffered is returned at once, and on a plain socket (no timeout, nothing pending) the
   * `'data'` handler hands the next line over itself. Everything else (end of stream,
   * errors, long lines, timeouts) goes the general way, through `#readTo`.
   */
  #nextLine<T>(maxLength: number, wrap: (line: Buffer) => T): Promise<T> {
    let conn: StreamConnection;
    try {
      conn = this.#conn;
    } catch {
      return this.#slowLine(maxLength, wrap);
    }
    const queue = conn.queue;
    if (this.#skippingTo !== null) return this.#slowLine(maxLength, wrap);
    if (queue.length > 0) {
      const at = queue.indexOf(NEWLINE);
      if (at === -1 || at > maxLength) return this.#slowLine(maxLength, wrap);
      const line = queue.take(at + 1);
      conn.consumed();
      return Promise.resolve(wrap(line));
    }
    if (
      conn.eof ||
      conn.readShut ||
      conn.failed ||
      conn.closed ||
      this.#socket.gettimeout() !== null
    ) {
      return this.#slowLine(maxLength, wrap);
    }
    const fallback = this.#lineFallback as (read: DirectRead) => Promise<T>;
    return (
      conn.readDirect(0, NEWLINE, maxLength, wrap === asIs ? null : wrap, fallback) ??
      this.#slowLine(maxLength, wrap)
    );
  }

  #slowLine<T>(maxLength: number, wrap: (line: Buffer) => T): Promise<T> {
    const line = this.#readTo(NEWLINE, maxLength, false);
    return wrap === (asIs as unknown) ? (line as Promise<T>) : line.then(wrap);
  }

  /** The general path, for a direct read that something other than a line woke. */
  #lineFallback = (read: DirectRead): Promise<unknown> =>
    this.#slowLine(read.maxLength, read.wrap ?? asIs);

  /**
   * Reads up to and including `separator`. End of stream first raises
   * `IncompleteReadError` with the bytes read; more than `maxLength` bytes before the
   * separator raises `LineTooLongError`.
   */
  readuntil(separator: Buffer | string = NEWLINE, options: ReadlineOptions = {}): Promise<Buffer> {
    const sep = typeof separator === "string" ? Buffer.from(separator) : separator;
    if (sep.length === 0) {
      return Promise.reject(
        new SocketError("Cannot read until separator: separator is empty", { code: "EINVAL" }),
      );
    }
    return this.#readTo(sep, options.maxLength ?? this.#maxLineLength, true);
  }

  async #readTo(sep: Buffer, maxLength: number, strict: boolean): Promise<Buffer> {
    const conn = this.#conn;
    const queue = conn.queue;
    const deadline = this.#socket.deadline();
    if (this.#skippingTo !== null) await this.#skip(conn, deadline);
    // The socket's limit, restored on the way out if a long line made us raise it.
    const highWaterMark = conn.highWaterMark;
    try {
      let scanned = 0;
      for (;;) {
        const at = queue.indexOf(sep, scanned);
        if (at !== -1) {
          if (at > maxLength) return this.#overflow(conn, sep, maxLength);
          const line = queue.take(at + sep.length);
          conn.consumed();
          return line;
        }
        if (queue.length > maxLength + sep.length - 1) return this.#overflow(conn, sep, maxLength);
        scanned = Math.max(0, queue.length - sep.length + 1);
        // A line longer than the socket's limit but within maxLength: hold all of it
        // (memory stays bounded by maxLength), for this call only.
        if (queue.length >= conn.highWaterMark) conn.highWaterMark = maxLength + sep.length;
        if (conn.eof || conn.readShut) {
          const rest = queue.take(queue.length);
          conn.consumed();
          if (strict) throw new IncompleteReadError(rest, null);
          return rest;
        }
        conn.checkOpen("receive from");
        const timeoutMs = this.#socket[kTimeoutMs](deadline);
        await conn.readers.wait(timeoutMs, `receive from ${conn.peerLabel}`);
      }
    } finally {
      if (conn.highWaterMark !== highWaterMark) conn.highWaterMark = highWaterMark;
    }
  }

  /** Drops the over-long line's bytes and reports it; the rest of it is skipped lazily. */
  #overflow(conn: StreamConnection, sep: Buffer, maxLength: number): never {
    const at = conn.queue.indexOf(sep);
    if (at !== -1) conn.queue.skip(at + sep.length);
    else {
      conn.queue.skip(Math.max(0, conn.queue.length - sep.length + 1));
      this.#skippingTo = sep;
    }
    conn.consumed();
    throw new LineTooLongError(maxLength);
  }

  async #skip(conn: StreamConnection, deadline: number | null): Promise<void> {
    const sep = this.#skippingTo as Buffer;
    // The bytes kept in case they begin the separator must not hold reading paused: with a
    // limit under the separator's length, skipping waited for data it had stopped itself.
    const highWaterMark = conn.highWaterMark;
    if (highWaterMark < sep.length) conn.highWaterMark = sep.length;
    try {
      await this.#skipTo(conn, sep, deadline);
    } finally {
      if (conn.highWaterMark !== highWaterMark) conn.highWaterMark = highWaterMark;
    }
    this.#skippingTo = null;
  }

  async #skipTo(conn: StreamConnection, sep: Buffer, deadline: number | null): Promise<void> {
    for (;;) {
      const at = conn.queue.indexOf(sep);
      if (at !== -1) {
        conn.queue.skip(at + sep.length);
        conn.consumed();
        return;
      }
      conn.queue.skip(Math.max(0, conn.queue.length - sep.length + 1));
      conn.consumed();
      if (!(await this.#more(conn, deadline))) {
        // End of stream: the bytes kept in case they began the separator belong to the
        // dropped line, and must not come back as the next call's partial.
        conn.queue.skip(conn.queue.length);
        conn.consumed();
        return;
      }
    }
  }

  /** Lines (with their `"\n"`) until end of stream. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    // A plain iterator object: an async generator costs extra promises per line.
    const iterator: AsyncIterableIterator<Buffer> = {
      next: () => this.#nextLine(this.#maxLineLength, lineResult),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}

const asIs = (line: Buffer): Buffer => line;
const lineResult = (line: Buffer): IteratorResult<Buffer> =>
  line.length === 0 ? { value: undefined, done: true } : { value: line, done: false };
