import { LineTooLongError } from "../core/errors.ts";
import { ChunkQueue } from "./chunk-queue.ts";

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/** Options for {@linkcode LineSplitter}. */
export interface LineSplitterOptions {
  /**
   * Longest line accepted, in bytes, not counting its terminator. A longer line makes
   * `next()` throw `LineTooLongError` once; the rest of it is discarded, never buffered.
   *
   * @default {65536}
   */
  maxLineLength?: number;
  /**
   * Only LF ends a line, as Python's `readline` has it: a CR is kept in the line (a CRLF
   * line ends in CR). For protocols that take what `rfile.readline()` takes.
   *
   * @default {false}
   */
  lfOnly?: boolean;
}

/**
 * Splits a byte stream into lines: a state machine over Buffers with no transport inside.
 * The caller pushes each chunk it receives, then calls `next()` until it returns
 * `undefined`; at end of input, `end()` hands out the unterminated last line.
 *
 * LF, CRLF and a bare CR all end a line, and lines are returned without them. A CR that is
 * the last byte received ends its line at once; an LF arriving next is taken as the rest of
 * that CRLF, not as an empty line. With `lfOnly`, LF alone ends a line.
 *
 * Memory is bounded: a line longer than `maxLineLength` makes `next()` throw
 * `LineTooLongError` as soon as that many bytes are buffered without a terminator, once per
 * line; its remaining bytes are dropped as they arrive, and splitting resumes after its
 * terminator. Between drains the splitter holds at most `maxLineLength` bytes plus the
 * chunk just pushed.
 *
 * A line that lies inside one chunk is returned as a `subarray` view of it; only a line
 * spanning chunks is copied.
 *
 * @example
 * ```ts
 * import { LineSplitter } from "socketkit";
 * const splitter = new LineSplitter({ maxLineLength: 1024 });
 * const lines: string[] = [];
 * for (const chunk of ["GET / HTTP/1.0\r", "\nHost: a\r\n\r\n", "tail"]) {
 *   splitter.push(Buffer.from(chunk));
 *   for (let line = splitter.next(); line !== undefined; line = splitter.next()) {
 *     lines.push(line.toString());
 *   }
 * }
 * const rest = splitter.end();
 * // lines: ["GET / HTTP/1.0", "Host: a", ""]; rest?.toString(): "tail"
 * ```
 */
export class LineSplitter {
  readonly #maxLineLength: number;
  readonly #lfOnly: boolean;

  readonly #queue = new ChunkQueue();

  // Where the search for a terminator resumes, so each byte is examined once however many
  // times next() is called while a line trickles in: chunk index, position in that chunk,
  // and the count of bytes from the front already known to hold no terminator.
  #scanChunk = 0;
  #scanPos = 0;
  #scanned = 0;

  /** The last line ended with a CR that was the last byte received: an LF next is its pair. */
  #skipLF = false;
  /** Inside a line already reported too long: bytes are dropped up to its terminator. */
  #discarding = false;

  // The next CR and LF at or after #seekFrom in #seekChunk (-1: none there). Searching for
  // each byte with indexOf (memchr) and remembering the result keeps the search linear even
  // when one of the two bytes never occurs in a large chunk of short lines.
  #seekChunk: Buffer = EMPTY;
  #seekFrom = 0;
  #nextCR = -1;
  #nextLF = -1;

  constructor(options: LineSplitterOptions = {}) {
    const max = options.maxLineLength ?? 65536;
    if (!(max >= 0) || (!Number.isInteger(max) && max !== Number.POSITIVE_INFINITY)) {
      throw new RangeError(
        `Cannot create LineSplitter: maxLineLength must be a non-negative integer, got ${max}`,
      );
    }
    this.#maxLineLength = max;
    this.#lfOnly = options.lfOnly ?? false;
  }

  /** Bytes held: the part of the input not yet returned as lines. */
  get bufferedLength(): number {
    return this.#queue.length;
  }

  /**
   * True while a line has begun and not ended: bytes of it are held, or an over-long
   * line is being dropped up to its terminator. (For a limit on how long a line may take.)
   */
  get midLine(): boolean {
    return this.#queue.length > 0 || this.#discarding;
  }

  /** Appends a chunk of input. The chunk is kept by reference, not copied. */
  push(chunk: Buffer): void {
    let data = chunk;
    if (data.length === 0) return;
    if (this.#skipLF) {
      this.#skipLF = false;
      if (data[0] === LF) data = data.subarray(1);
    }
    if (this.#discarding) data = this.#discard(data);
    this.#queue.push(data);
  }

  /**
   * Returns the next complete line without its terminator, or `undefined` when no complete
   * line is buffered.
   *
   * @throws {LineTooLongError} Once for each line longer than `maxLineLength`, as soon as
   * more than that many bytes of it are buffered. The line is dropped; the following
   * `next()` continues after it.
   */
  next(): Buffer | undefined {
    const at = this.#findTerminator();
    if (at === -1) {
      if (this.#queue.length > this.#maxLineLength) {
        this.#clear();
        this.#discarding = true;
        throw new LineTooLongError(this.#maxLineLength);
      }
      return undefined;
    }
    const terminatorLength = this.#terminatorLength();
    if (at > this.#maxLineLength) {
      this.#queue.skip(at + terminatorLength);
      this.#rescan();
      throw new LineTooLongError(this.#maxLineLength);
    }
    const line = this.#queue.take(at);
    this.#queue.skip(terminatorLength);
    this.#rescan();
    return line;
  }

  /**
   * Signals the end of input and returns what is left: the next complete line if one is
   * still buffered (as `next()` would), else the unterminated remainder if non-empty,
   * else `undefined`. Called after `next()` has returned `undefined`, it returns the last
   * line, once. When it returns `undefined` the splitter is empty and ready for a new stream.
   *
   * @throws {LineTooLongError} As `next()` does, when the remainder is too long.
   */
  end(): Buffer | undefined {
    try {
      const line = this.next();
      if (line !== undefined || this.#queue.length === 0) return line;
      const rest = this.#queue.take(this.#queue.length);
      this.#rescan();
      return rest;
    } finally {
      if (this.#queue.length === 0) {
        this.#skipLF = false;
        this.#discarding = false;
      }
    }
  }

  /**
   * Drops the unfinished line held, as a peer that cancels what it was typing asks
   * (telnet's Ctrl-C); an over-long line being dropped ends there too. Call it after
   * `next()` has returned `undefined`: complete lines still held would go with it.
   */
  discardPartial(): void {
    this.#clear();
    this.#discarding = false;
  }

  /** Drops `data` up to and including the terminator of the line being discarded. */
  #discard(data: Buffer): Buffer {
    const at = this.#seek(data, 0);
    if (at === -1) return EMPTY;
    this.#discarding = false;
    let end = at + 1;
    if (data[at] === CR) {
      if (end === data.length) this.#skipLF = true;
      else if (data[end] === LF) end++;
    }
    return data.subarray(end);
  }

  /** Position from the front of the first CR or LF buffered, or -1; leaves the scan on it. */
  #findTerminator(): number {
    while (this.#scanChunk < this.#queue.chunkCount) {
      const chunk = this.#queue.chunk(this.#scanChunk) as Buffer;
      const at = this.#seek(chunk, this.#scanPos);
      if (at !== -1) {
        this.#scanned += at - this.#scanPos;
        this.#scanPos = at;
        return this.#scanned;
      }
      this.#scanned += chunk.length - this.#scanPos;
      this.#scanChunk++;
      this.#scanPos = 0;
    }
    return -1;
  }

  /** Length of the terminator the scan rests on: 2 for CRLF, else 1. */
  #terminatorLength(): number {
    const chunk = this.#queue.chunk(this.#scanChunk) as Buffer;
    if (chunk[this.#scanPos] === LF) return 1;
    const after =
      this.#scanPos + 1 < chunk.length
        ? chunk[this.#scanPos + 1]
        : this.#queue.chunk(this.#scanChunk + 1)?.[0];
    if (after === undefined) {
      // The CR is the last byte received: end the line now, pair it with an LF later.
      this.#skipLF = true;
      return 1;
    }
    return after === LF ? 2 : 1;
  }

  /** Index of the first CR or LF (LF alone with `lfOnly`) in `chunk` at or after `from`, or -1. */
  #seek(chunk: Buffer, from: number): number {
    if (chunk !== this.#seekChunk || from < this.#seekFrom) {
      this.#seekChunk = chunk;
      this.#nextCR = this.#lfOnly ? -1 : chunk.indexOf(CR, from);
      this.#nextLF = chunk.indexOf(LF, from);
    } else {
      if (this.#nextCR !== -1 && this.#nextCR < from) this.#nextCR = chunk.indexOf(CR, from);
      if (this.#nextLF !== -1 && this.#nextLF < from) this.#nextLF = chunk.indexOf(LF, from);
    }
    this.#seekFrom = from;
    if (this.#nextCR === -1) return this.#nextLF;
    if (this.#nextLF === -1) return this.#nextCR;
    return Math.min(this.#nextCR, this.#nextLF);
  }

  /** Restarts the terminator search at the front (after bytes were consumed). */
  #rescan(): void {
    this.#scanChunk = 0;
    this.#scanPos = this.#queue.headOffset;
    this.#scanned = 0;
  }

  /** Drops everything buffered. */
  #clear(): void {
    this.#queue.clear();
    this.#seekChunk = EMPTY;
    this.#rescan();
  }
}
