import type { Socket as NetSocket } from "node:net";
import { ChunkQueue } from "../codec/chunk-queue.ts";
import { SocketError, TimeoutError, toSocketError } from "../core/errors.ts";
import { remaining } from "./deadline.ts";
import { IdleSweeper } from "./idle-sweeper.ts";
import { handleFd, READABLE, type Readiness, WRITABLE } from "./readiness.ts";
import { Waiters } from "./waiters.ts";

/** Options of {@link StreamConnection}. */
export interface StreamConnectionOptions {
  /** Bytes buffered from the peer before reading pauses. @default 65536 */
  highWaterMark?: number;
  /** Bytes queued for sending before `send` waits. @default 65536 */
  sendBufferSize?: number;
  /** Start without reading (for accepted sockets not yet handed out). @default false */
  paused?: boolean;
}

/** Default high-water mark of the receive buffer (64 KiB). */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

const kConnection = Symbol("socketkit.connection");
type Tagged = NetSocket & { [kConnection]?: StreamConnection };

/**
 * One connected stream (TCP or Unix) over a `net.Socket`: a bounded receive buffer that
 * pauses the socket above its high-water mark (so a flooding peer is held back by TCP flow
 * control, not by our memory), half-close in both directions, and no unhandled `'error'`.
 * The `Socket` class gives it Python's API; `BufferedReader` reads its queue directly.
 */
export class StreamConnection implements Readiness {
  /** The Node socket underneath. */
  readonly socket: NetSocket;
  /** Received bytes not yet read. */
  readonly queue = new ChunkQueue();
  /** Callers waiting for data, end of stream or an error. */
  readonly readers = new Waiters();
  /** The peer's address, for messages ("127.0.0.1:5000" or a path). */
  peerLabel: string;
  /** The peer sent FIN and everything before it is in `queue`. */
  eof = false;
  /** The socket is gone (closed by us or by an error). */
  closed = false;
  /** `shutdown(SHUT_RD)` was called: incoming bytes are dropped. */
  readShut = false;
  /** `shutdown(SHUT_WR)` was called: FIN is sent after what is queued. */
  writeShut = false;
  #error: unknown = null;
  #highWaterMark: number;
  #sendBufferSize: number;
  #reading: boolean;
  #drainWaiters = new Waiters();
  #idleSeconds = 0;
  #idleSweeper: IdleSweeper | null = null;
  /** Byte count at the last check that saw movement, and when that was. */
  #idleBytes = 0;
  #idleSince = 0;
  #direct: DirectRead | null = null;
  /** The socket, when it can write at once with no callback (see {@link DirectSource}). */
  #tryWrite: DirectSource | null = null;
  /** Made when someone waits for the close, resolved by `onClosed`. */
  #closedPromise: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  /** The handle is released (`'close'` was emitted). */
  #released = false;
  /** The descriptor is lent out for reading (see {@link lendForReading}). */
  #lent = false;
  /** Write callback: every flushed write lets `send`/`drain` waiters re-check. */
  #afterWrite = (err?: Error | null): void => {
    if (err) this.fail(err);
    this.#drainWaiters.wake();
  };

  constructor(socket: NetSocket, peerLabel: string, options: StreamConnectionOptions = {}) {
    this.socket = socket;
    this.peerLabel = peerLabel;
    this.#highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.#sendBufferSize = options.sendBufferSize ?? DEFAULT_HIGH_WATER_MARK;
    this.#reading = !options.paused;
    (socket as Tagged)[kConnection] = this;
    // A socket that can hand its bytes straight to a receiver (the native path's) does,
    // instead of through a 'data' event.
    const direct = socket as unknown as Partial<DirectSource>;
    if (typeof direct.setReceiver === "function") {
      direct.setReceiver(this);
      this.#tryWrite = direct as DirectSource;
    } else socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.on("close", onClose);
    if (!this.#reading) socket.pause();
  }

  /**
   * For `select`: `recv` would not wait when bytes are buffered or it would return end of
   * stream or raise; `send` would not wait below the send buffer size (or when it would
   * raise).
   */
  ready(events: number): number {
    let ready = 0;
    const over = this.closed || this.#error !== null;
    if ((events & READABLE) !== 0 && (over || this.queue.length > 0 || this.eof || this.readShut)) {
      ready |= READABLE;
    }
    if (
      (events & WRITABLE) !== 0 &&
      (over || this.writeShut || this.socket.writableLength < this.#sendBufferSize)
    ) {
      ready |= WRITABLE;
    }
    return ready;
  }

  /** For `select`: wakes at the next change of what {@link ready} says for `events`. */
  watch(events: number, wake: () => void): () => void {
    const read = (events & READABLE) !== 0 ? this.readers.watch(wake) : null;
    const write = (events & WRITABLE) !== 0 ? this.#drainWaiters.watch(wake) : null;
    return () => {
      read?.();
      write?.();
    };
  }

  /** The descriptor under the connection, or -1 (TLS, or none). */
  fileno(): number {
    return handleFd(this.socket);
  }

  /** Starts reading an accepted socket that was created paused. */
  start(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.#flow();
  }

  /**
   * Closes the connection when nothing is received or sent for `seconds` (null: never):
   * pending and later operations raise `TimeoutError`. The defence against clients that
   * connect and say nothing.
   *
   * Node's own socket timeout re-arms a timer on every read and write; this checks the
   * byte counters four times per period instead, so the hot path pays nothing. A
   * connection is closed between 1 and 1.25 periods after it fell silent.
   */
  setIdleTimeout(seconds: number | null): void {
    this.#stopIdleChecks();
    this.#idleSeconds = seconds ?? 0;
    if (this.#idleSeconds <= 0 || this.closed) return;
    this.#idleBytes = -1;
    this.#idleSince = performance.now();
    this.#idleSweeper = IdleSweeper.every(Math.max(25, Math.round((this.#idleSeconds * 1000) / 4)));
    this.#idleSweeper.add(this);
  }

  #stopIdleChecks(): void {
    this.#idleSweeper?.delete(this);
    this.#idleSweeper = null;
  }

  /** For the idle sweeper: closes the connection once it has been silent too long. */
  checkIdle(now: number): void {
    // Lent out, the bytes move where Node's counters cannot see: its borrower watches them.
    if (this.#lent) {
      this.#idleSince = now;
      return;
    }
    const bytes = this.socket.bytesRead + this.socket.bytesWritten;
    // Bytes moved, or reading is paused because *we* have not consumed what came while
    // nothing of ours waits for the peer: the peer is not idle. Paused with our own bytes
    // unsent is a peer that sends and never reads, stuck: that counts as idle.
    if (
      bytes !== this.#idleBytes ||
      (this.queue.length >= this.#highWaterMark && this.socket.writableLength === 0)
    ) {
      this.#idleBytes = bytes;
      this.#idleSince = now;
      return;
    }
    if (now - this.#idleSince < this.#idleSeconds * 1000) return;
    // Timers run before the poll phase: after a busy spell the loop may not yet have read
    // what is waiting. Decide after one poll phase (setImmediate runs after it).
    setImmediate(() => {
      if (this.closed || this.socket.destroyed) return;
      if (this.socket.bytesRead + this.socket.bytesWritten !== bytes) return;
      this.#stopIdleChecks();
      this.fail(
        new TimeoutError(`Cannot receive from ${this.peerLabel}: idle for ${this.#idleSeconds} s`),
      );
      this.socket.destroy();
    });
  }

  /**
   * Whether the connection keeps the process alive (Node's `ref`/`unref`), its timeouts
   * with it. Node defers an `unref` made before the connection is up, so this can be
   * called at any time.
   */
  setRef(ref: boolean): void {
    if (ref) this.socket.ref();
    else this.socket.unref();
    this.readers.refTimers = ref;
    this.#drainWaiters.refTimers = ref;
  }

  /** The receive high-water mark in bytes. */
  get highWaterMark(): number {
    return this.#highWaterMark;
  }

  set highWaterMark(bytes: number) {
    const old = this.#highWaterMark;
    this.#highWaterMark = Math.max(1, bytes);
    // Only a change that crosses what is buffered can change whether we read.
    const raised = this.#highWaterMark > old;
    if (raised ? this.socket.isPaused() : this.queue.length >= this.#highWaterMark) this.#flow();
  }

  /** Bytes `send` lets queue before it waits. */
  get sendBufferSize(): number {
    return this.#sendBufferSize;
  }

  set sendBufferSize(bytes: number) {
    this.#sendBufferSize = Math.max(1, bytes);
  }

  /** True when an error is waiting to be reported. */
  get failed(): boolean {
    return this.#error !== null;
  }

  /** The stored error as a `SocketError` for `action` ("receive from"), naming the peer. */
  error(action: string): SocketError {
    return toSocketError(this.#error, `${action} ${this.peerLabel}`);
  }

  /** Called by readers after taking bytes: resumes the socket once below the mark. */
  consumed(): void {
    if (this.socket.isPaused() && this.queue.length < this.#highWaterMark) this.#flow();
  }

  #flow(): void {
    if (!this.#reading || this.closed || this.eof) return;
    if (this.readShut || this.queue.length < this.#highWaterMark) this.socket.resume();
    else this.socket.pause();
  }

  /**
   * Lends the descriptor to a reader outside Node.js (the native bulk reader): the handle
   * stops reading, and what Node.js had read already is moved into `queue`, so every byte
   * is either there or still in the kernel, in order. Returns the descriptor, or null
   * when there is none to lend (TLS, no handle, closed or failed). {@link endLoan} gives
   * reading back to Node.js.
   */
  lendForReading(): number | null {
    const handle = streamHandle(this.socket);
    if (handle === null || this.closed || this.#error !== null || this.#lent) return null;
    handle.readStop();
    // net.Socket restarts a handle whose flag says it is not reading: it must not now.
    handle.reading = true;
    this.#lent = true;
    // Bytes Node.js holds in its own buffer (a paused socket's) come out as 'data' events.
    while (this.socket.readableLength > 0 && this.socket.read() !== null) {}
    return handle.fd;
  }

  /**
   * The descriptor for a writer outside Node.js (the native bulk writer), once nothing of
   * ours is queued; null when there is none to lend (TLS, no handle). The borrower writes
   * only while no one else sends on this connection.
   */
  async lendForWriting(timeoutMs: number | null): Promise<number | null> {
    const handle = streamHandle(this.socket);
    if (handle === null) return null;
    // Throws when the socket is closed or failed meanwhile.
    await this.drain(timeoutMs);
    return handle.fd;
  }

  /** Ends a loan from {@link lendForReading}: Node.js reads the descriptor again. */
  endLoan(): void {
    if (!this.#lent) return;
    this.#lent = false;
    const handle = streamHandle(this.socket);
    if (handle === null || this.closed) return;
    // As net.Socket starts a handle; it stops it again itself once its buffer is full.
    handle.reading = true;
    handle.readStart();
    this.#flow();
  }

  /** Records an incoming chunk (called from the shared `'data'` handler). */
  receive(chunk: Buffer): void {
    if (this.readShut) return;
    const d = this.#direct;
    // The common case of a waiting recv: the chunk is its answer, past the queue.
    if (d !== null && d.sep === null && chunk.length <= d.size && this.queue.length === 0) {
      this.#direct = null;
      d.resolve(d.wrap === null ? chunk : d.wrap(chunk));
      this.readers.wake();
      return;
    }
    this.queue.push(chunk);
    if (this.#direct !== null) this.#feedDirect(this.#direct);
    if (this.queue.length >= this.#highWaterMark) this.socket.pause();
    this.readers.wake();
  }

  /**
   * A read (without a timeout) when nothing is buffered: the `'data'` handler itself hands
   * over the next bytes, up to `size` (`recv`), or the next whole line ending in `sep`
   * (`readline`), with no wake-and-recheck hop; `wrap` shapes them. When anything else
   * happens (end of stream, an error, the close, a line over `maxLength` or over the
   * buffer's limit) the promise takes the result of `fallback`, the caller's general
   * path. One at a time: returns null when another read is already waiting.
   */
  readDirect<T>(
    size: number,
    sep: Buffer | null,
    maxLength: number,
    wrap: ((data: Buffer) => T) | null,
    fallback: (read: DirectRead) => Promise<T>,
  ): Promise<T> | null {
    if (this.#direct !== null) return null;
    // No closure per read beyond the executor: the hot path allocates as little as it can.
    return new Promise<T>((resolve) => {
      this.#direct = {
        size,
        sep,
        maxLength,
        scanned: 0,
        wrap,
        fallback,
        resolve: resolve as (value: unknown) => void,
      };
    });
  }

  /** Hands the bytes received to the direct read, if any and if they are what it wants. */
  #feedDirect(d: DirectRead): void {
    const queue = this.queue;
    let out: Buffer | null = null;
    if (d.sep === null) out = queue.take(d.size);
    else {
      const at = queue.indexOf(d.sep, d.scanned);
      if (at === -1) {
        // Keep waiting for the rest of the line, unless it is already too long to hold.
        if (queue.length <= d.maxLength && queue.length < this.#highWaterMark) {
          d.scanned = Math.max(0, queue.length - d.sep.length + 1);
          return;
        }
      } else if (at <= d.maxLength) out = queue.take(at + d.sep.length);
    }
    this.#direct = null;
    if (out === null) d.resolve(d.fallback(d));
    else {
      this.consumed();
      d.resolve(d.wrap === null ? out : d.wrap(out));
    }
  }

  /** Something other than data happened: the direct read must look for itself. */
  #releaseDirect(): void {
    const d = this.#direct;
    if (d === null) return;
    this.#direct = null;
    d.resolve(d.fallback(d));
  }

  /** Records a socket error; it is reported by the next operation that needs the socket. */
  fail(err: unknown): void {
    if (this.#error === null) this.#error = err;
    this.#releaseDirect();
    this.readers.wake();
    this.#drainWaiters.wake();
  }

  /** The socket closed: wake everyone so they see it. */
  onClosed(): void {
    this.closed = true;
    this.#released = true;
    this.#stopIdleChecks();
    this.#resolveClosed?.();
    this.#releaseDirect();
    this.readers.wake();
    this.#drainWaiters.wake();
  }

  /** Peer FIN received (or what libuv reports as one: see `resetDisguisedAsEnd`). */
  onEnd(): void {
    if (!this.writeShut && resetDisguisedAsEnd(this.socket)) this.fail({ code: "ECONNRESET" });
    else this.eof = true;
    this.#releaseDirect();
    this.readers.wake();
  }

  /** Throws the stored error, or that the socket is closed, for `action` ("send to"). */
  checkOpen(action: string): void {
    if (this.#error !== null) throw this.error(action);
    if (this.closed) throw closedError(action, this.peerLabel);
  }

  #checkWritable(action: string): void {
    this.checkOpen(action);
    if (this.writeShut) {
      throw toSocketError({ code: "EPIPE" }, `${action} ${this.peerLabel} after shutdown(SHUT_WR)`);
    }
  }

  /**
   * Python's `send`: waits while more than `sendBufferSize` bytes are queued, then takes
   * up to that many and returns how many it took.
   */
  async send(data: Buffer, timeoutMs: number | null): Promise<number> {
    this.#checkWritable("send to");
    await this.waitWritable(this.#sendBufferSize - 1, timeoutMs);
    const n = Math.min(data.length, this.#sendBufferSize);
    this.socket.write(n === data.length ? data : data.subarray(0, n), this.#afterWrite);
    return n;
  }

  /**
   * Python's `sendall`: sends every byte, in slices of at most `sendBufferSize`, each
   * queued only when there is room, and resolves once all are handed to the kernel. So a
   * peer that does not read holds the sender back, and a `TimeoutError` (or, non-blocking,
   * `BlockingIOError`) leaves at most one slice queued: retrying never piles data up.
   */
  sendall(data: Buffer | string, timeoutMs: number | null): Promise<void> {
    try {
      this.#checkWritable("send to");
      const buf = typeof data === "string" ? Buffer.from(data) : data;
      // Fast path: it fits, there is room, and the kernel takes it at once.
      if (buf.length <= this.#sendBufferSize && this.socket.writableLength === 0) {
        const direct = this.#tryWrite;
        if (direct !== null) {
          if (direct.tryWrite(buf, this.#afterWrite)) return RESOLVED;
        } else this.socket.write(buf, this.#afterWrite);
        if (this.socket.writableLength === 0 || timeoutMs === 0) return RESOLVED;
        return this.waitWritable(0, timeoutMs);
      }
      return this.#sendallSlices(buf, timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * {@link sendall} of the same bytes on each of `conns` (`timeouts[i]` in milliseconds,
   * as `sendall` takes it): the connections whose sockets write to the kernel directly
   * and can take `data` now (nothing queued, at most `sendBufferSize` bytes) are written to
   * together (`DirectSource.tryWriteEach`: one native loop on the native path), the others
   * one by one. `out[at[i]]` gets undefined when `conns[i]` is done, else the promise
   * `sendall` would have returned.
   */
  static sendallEach(
    conns: readonly StreamConnection[],
    data: Buffer,
    timeouts: readonly (number | null)[],
    out: (Promise<void> | undefined)[],
    at: readonly number[],
  ): void {
    let writer: DirectSource | null = null;
    const direct: StreamConnection[] = [];
    for (let i = 0; i < conns.length; i++) {
      const conn = conns[i] as StreamConnection;
      const source = conn.#tryWrite;
      if (
        source?.tryWriteEach !== undefined &&
        conn.#error === null &&
        !conn.closed &&
        !conn.writeShut &&
        data.length <= conn.#sendBufferSize &&
        conn.socket.writableLength === 0
      ) {
        writer ??= source;
        direct.push(conn);
        continue;
      }
      const sent = conn.sendall(data, timeouts[i] ?? null);
      out[at[i] as number] = sent === RESOLVED ? undefined : sent;
    }
    if (writer === null) return;
    const took = new Array<boolean>(direct.length);
    (writer.tryWriteEach as NonNullable<DirectSource["tryWriteEach"]>)(
      direct.map((c) => c.#tryWrite as DirectSource),
      data,
      direct.map((c) => c.#afterWrite),
      took,
    );
    for (let i = 0, k = 0; i < conns.length; i++) {
      const conn = conns[i] as StreamConnection;
      if (conn !== direct[k]) continue;
      const timeoutMs = timeouts[i] ?? null;
      // As sendall's fast path: done, or wait for what the kernel did not take.
      out[at[i] as number] =
        took[k] || conn.socket.writableLength === 0 || timeoutMs === 0
          ? undefined
          : conn.waitWritable(0, timeoutMs);
      k++;
    }
  }

  async #sendallSlices(buf: Buffer, timeoutMs: number | null): Promise<void> {
    const limit = this.#sendBufferSize;
    const end = timeoutMs === null || timeoutMs === 0 ? null : performance.now() + timeoutMs;
    const left = () => (timeoutMs === 0 ? 0 : remaining(end));
    for (let off = 0; off < buf.length; off += limit) {
      if (this.socket.writableLength >= limit) await this.waitWritable(limit - 1, left());
      this.#checkWritable("send to");
      this.socket.write(buf.subarray(off, Math.min(buf.length, off + limit)), this.#afterWrite);
    }
    if (this.socket.writableLength > 0 && timeoutMs !== 0) await this.waitWritable(0, left());
  }

  /** Queues bytes without waiting (for `Writer`); returns false above the send buffer size. */
  write(data: Buffer | string): boolean {
    this.#checkWritable("send to");
    this.socket.write(data, this.#afterWrite);
    return this.socket.writableLength < this.#sendBufferSize;
  }

  /**
   * Waits until at most `limit` bytes are queued for sending, for at most `timeoutMs` in
   * all (0: non-blocking, `BlockingIOError` when it would wait; null: no limit).
   */
  async waitWritable(limit: number, timeoutMs: number | null): Promise<void> {
    const end = timeoutMs === null || timeoutMs === 0 ? null : performance.now() + timeoutMs;
    while (this.socket.writableLength > limit) {
      this.#checkWritable("send to");
      await this.#drainWaiters.wait(
        timeoutMs === 0 ? 0 : remaining(end),
        `send to ${this.peerLabel}`,
      );
    }
    this.#checkWritable("send to");
  }

  /** Waits until everything queued has been handed to the kernel. */
  drain(timeoutMs: number | null): Promise<void> {
    return this.waitWritable(0, timeoutMs);
  }

  /** `shutdown(SHUT_WR)`: FIN after the queued bytes; receiving goes on. */
  shutdownWrite(): void {
    if (this.writeShut || this.closed) return;
    this.writeShut = true;
    this.socket.end();
  }

  /** `shutdown(SHUT_RD)`: buffered and future bytes are dropped; `recv` returns EOF. */
  shutdownRead(): void {
    this.readShut = true;
    this.queue.clear();
    this.#releaseDirect();
    this.readers.wake();
    this.#flow();
  }

  /**
   * Closes as Python's `close()` does: the receive buffer is dropped and queued bytes are
   * still sent, then FIN, in the background (for at most `LINGER_MS`, as the kernel's
   * orphan timeout bounds it), so a peer that does not read cannot hold `close()` up.
   * Resolves when the handle is released, or at once when bytes are still draining.
   */
  close(): Promise<void> {
    if (this.#markClosed()) {
      if (this.socket.writableLength > 0 && !this.socket.destroyed) {
        this.socket.destroySoon();
        const linger = setTimeout(() => this.socket.destroy(), LINGER_MS);
        linger.unref();
        this.socket.once("close", () => clearTimeout(linger));
        return Promise.resolve();
      }
      this.socket.destroy();
    }
    return this.#whenClosed();
  }

  /**
   * Closes at once with a reset (RST), dropping what is queued either way: SO_LINGER on
   * with 0 seconds, for a peer that must not hold the close up or must see it failed.
   */
  reset(): Promise<void> {
    if (this.#markClosed()) {
      try {
        this.socket.resetAndDestroy();
      } catch {
        // Not a TCP handle (TLS): closed, without the reset.
        this.socket.destroy();
      }
    }
    return this.#whenClosed();
  }

  /** Marks the connection closed (once: false after), dropping what was unread and waking every waiter. */
  #markClosed(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.queue.clear();
    this.#releaseDirect();
    this.readers.wake();
    this.#drainWaiters.wake();
    return true;
  }

  #whenClosed(): Promise<void> {
    if (this.#released) return RESOLVED;
    this.#closedPromise ??= new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    return this.#closedPromise;
  }
}

const RESOLVED = Promise.resolve();

/** How long bytes queued at `close()` may take to drain before the socket is dropped. */
export const LINGER_MS = 30_000;

/**
 * Some kernels (gVisor's among them) report data and an RST that arrive together as end of
 * stream, with no error to read. A peer that really sent FIN is still connected (we are
 * in CLOSE_WAIT), so `getpeername` works; after a reset it fails with ENOTCONN. Node has
 * no public call for this, so the handle's own method is used when it exists.
 */
function resetDisguisedAsEnd(socket: NetSocket): boolean {
  const handle = (socket as unknown as { _handle?: { getpeername?: (out: object) => number } })
    ._handle;
  if (typeof handle?.getpeername !== "function") return false;
  return handle.getpeername({}) !== 0;
}

/** The part of a libuv stream handle (TCP, pipe) that lending its descriptor needs. */
interface StreamHandle {
  fd: number;
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

/**
 * The handle of a plain TCP or Unix socket, with a descriptor; null for TLS (the bytes
 * on the descriptor are encrypted), a socket without a handle or a platform without
 * descriptors.
 */
function streamHandle(socket: NetSocket): StreamHandle | null {
  if ((socket as { encrypted?: boolean }).encrypted) return null;
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (
    handle == null ||
    typeof handle.fd !== "number" ||
    handle.fd < 0 ||
    typeof handle.readStop !== "function" ||
    typeof handle.readStart !== "function"
  ) {
    return null;
  }
  return handle as StreamHandle;
}

/**
 * A socket that hands what it reads to one receiver by a call rather than by `'data'`
 * events (the native path's sockets): set once, by the connection over it.
 */
export interface DirectSource {
  setReceiver(receiver: { receive(chunk: Buffer): void }): void;
  /**
   * `write(data, callback)`, but true, with no callback, when the kernel took every byte
   * at once; otherwise what is left is queued (or the write failed) and `callback` is
   * called as `write` calls it.
   */
  tryWrite(data: Buffer, callback: (err?: Error | null) => void): boolean;
  /**
   * `tryWrite` of the same `data` on each of `sources`, in one call where the sockets allow
   * it (the native path writes to all of its own in one native loop): `took[i]` is what
   * `sources[i].tryWrite(data, callbacks[i])` would have returned.
   */
  tryWriteEach?(
    sources: readonly DirectSource[],
    data: Buffer,
    callbacks: readonly ((err?: Error | null) => void)[],
    took: boolean[],
  ): void;
}

/** A read waiting in {@link StreamConnection.readDirect}. */
export interface DirectRead {
  size: number;
  sep: Buffer | null;
  maxLength: number;
  /** Bytes of the queue already searched for `sep`. */
  scanned: number;
  wrap: ((data: Buffer) => unknown) | null;
  fallback: (read: DirectRead) => Promise<unknown>;
  resolve: (value: unknown) => void;
}

function closedError(action: string, peer: string): SocketError {
  return new SocketError(`Cannot ${action} ${peer}: socket is closed`, { code: "EBADF" });
}

function connectionOf(socket: NetSocket): StreamConnection {
  return (socket as Tagged)[kConnection] as StreamConnection;
}

// Shared handlers (one function for every connection, `this` is the net.Socket).
function onData(this: NetSocket, chunk: Buffer): void {
  connectionOf(this).receive(chunk);
}
function onEnd(this: NetSocket): void {
  connectionOf(this).onEnd();
}
function onError(this: NetSocket, err: Error): void {
  connectionOf(this).fail(err);
}
function onClose(this: NetSocket): void {
  connectionOf(this).onClosed();
}
