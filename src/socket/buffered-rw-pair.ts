import type { BufferedReader, ReadlineOptions } from "./buffered-reader.ts";
import type { Writer } from "./writer.ts";

/**
 * What `socket.makefile("rw")` gives, as Python's `BufferedRWPair`: a {@link BufferedReader}
 * and a {@link Writer} over one socket, as one file. Closing it closes both; the socket
 * stays open, as with the other files (closed for real when it is closed and its last
 * file is).
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * const conn = await createConnection(["127.0.0.1", 5000]);
 * const file = conn.makefile("rw");
 * await file.write("PING\n");
 * await file.flush();
 * console.log((await file.readline()).toString());
 * await file.close();
 * await conn.close();
 * ```
 */
export class BufferedRWPair {
  /** The reading side. */
  readonly reader: BufferedReader;
  /** The writing side. */
  readonly writer: Writer;

  constructor(reader: BufferedReader, writer: Writer) {
    this.reader = reader;
    this.writer = writer;
  }

  /** {@link BufferedReader.read}. */
  read(n = -1): Promise<Buffer> {
    return this.reader.read(n);
  }

  /** {@link BufferedReader.readexactly}. */
  readexactly(n: number): Promise<Buffer> {
    return this.reader.readexactly(n);
  }

  /** {@link BufferedReader.readline}. */
  readline(options: ReadlineOptions = {}): Promise<Buffer> {
    return this.reader.readline(options);
  }

  /** {@link BufferedReader.readuntil}. */
  readuntil(separator?: Buffer | string, options: ReadlineOptions = {}): Promise<Buffer> {
    return this.reader.readuntil(separator, options);
  }

  /** Lines until end of stream, as the reader's. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this.reader[Symbol.asyncIterator]();
  }

  /** {@link Writer.write}: resolves with the number of bytes. */
  write(data: Buffer | Uint8Array | string): Promise<number> {
    return this.writer.write(data);
  }

  /** {@link Writer.drain}. */
  drain(): Promise<void> {
    return this.writer.drain();
  }

  /** Python's name for {@link BufferedRWPair.drain}. */
  flush(): Promise<void> {
    return this.writer.drain();
  }

  /** True once {@link BufferedRWPair.close} was called. */
  get closed(): boolean {
    return this.reader.closed && this.writer.closed;
  }

  /** Flushes the writer and closes both sides. */
  async close(): Promise<void> {
    try {
      await this.writer.close();
    } finally {
      await this.reader.close();
    }
  }
}
