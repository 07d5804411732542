import { SocketError } from "../core/errors.ts";
import { kFileClosed, kStream, kTimeoutMs } from "./internal.ts";
import type { Socket } from "./socket.ts";
import type { StreamConnection } from "./stream-connection.ts";

/**
 * The writing side of `socket.makefile("w")`. The first write of a tick goes out at once;
 * the writes after it in the same tick are batched into one system call (`cork`/`uncork`).
 * `write` waits for room only when more than the socket's send buffer size (`SO_SNDBUF`,
 * 64 KiB by default) is queued, so a peer that does not read cannot make the process grow.
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * const conn = await createConnection(["127.0.0.1", 5000]);
 * const wfile = conn.makefile("w");
 * await wfile.write("HELLO\n");
 * await wfile.drain(); // everything handed to the kernel
 * ```
 */
export class Writer {
  readonly #socket: Socket;
  /** Set by the first write of a tick; later writes in that tick cork. */
  #tick: StreamConnection | null = null;
  #corked: StreamConnection | null = null;
  #closed = false;
  #uncork = (): void => {
    const conn = this.#corked;
    this.#corked = null;
    this.#tick = null;
    if (conn && !conn.socket.destroyed) conn.socket.uncork();
  };

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  #conn(): StreamConnection {
    if (this.#closed) throw new SocketError("Cannot write: writer is closed", { code: "EBADF" });
    return this.#socket[kStream]();
  }

  /**
   * Queues bytes; resolves with their number (as Python's `write` returns it). When more
   * than the send buffer size is already queued it first waits for room (with the
   * socket's timeout), so a timed-out write queues nothing and a peer that does not read
   * cannot make the process grow.
   */
  write(data: Buffer | Uint8Array | string): Promise<number> {
    let conn: StreamConnection;
    try {
      conn = this.#conn();
    } catch (err) {
      return Promise.reject(err);
    }
    const chunk =
      typeof data === "string" || Buffer.isBuffer(data)
        ? data
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const n = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (conn.socket.writableLength < conn.sendBufferSize) return this.#queue(conn, chunk, n);
    this.#uncork();
    return conn
      .waitWritable(conn.sendBufferSize - 1, this.#socket[kTimeoutMs](this.#socket.deadline()))
      .then(() => this.#queue(conn, chunk, n));
  }

  #queue(conn: StreamConnection, chunk: Buffer | string, n: number): Promise<number> {
    try {
      // The first write of a tick goes straight out; later ones in the same tick are
      // corked and leave together (one writev) when the tick ends.
      if (this.#tick === null) {
        this.#tick = conn;
        process.nextTick(this.#uncork);
      } else if (this.#corked === null) {
        conn.socket.cork();
        this.#corked = conn;
      }
      conn.write(chunk);
      return Promise.resolve(n);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Waits until everything written has been handed to the kernel. */
  async drain(): Promise<void> {
    const conn = this.#conn();
    this.#uncork();
    await conn.drain(this.#socket[kTimeoutMs](this.#socket.deadline()));
  }

  /** Python's name for {@link drain}. */
  flush(): Promise<void> {
    return this.drain();
  }

  /** True once {@link Writer.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Flushes and detaches. As with Python's `makefile`, the socket stays open: close or
   * `shutdown(SHUT_WR)` it to end the stream (a socket closed while its files are open is
   * closed for real when the last of them closes).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.drain();
    } finally {
      this.#closed = true;
      await this.#socket[kFileClosed](this);
    }
  }
}
