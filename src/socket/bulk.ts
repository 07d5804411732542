/**
 * Bulk data on a connected stream socket, for file transfers: reads and writes run in the
 * native addon on the libuv thread pool, in megabyte pieces, so the event loop is left
 * with hashing and scheduling (and the two CPU cores of a small machine both work). A pool
 * call moves what the kernel has and returns at EAGAIN; the wait for the peer is on the
 * event loop (the reactor's epoll), so no pool thread sits in poll(2) for a slow or silent
 * peer while the file system's work queues behind it. With
 * TLS, without the addon or without a descriptor, {@link bulkReader} and
 * {@link bulkWriter} return null and the caller uses `recv`/`sendall`. What a bulk reader
 * receives goes to disk by {@link writeInSlices}, on the pool too.
 * @module
 */
import { toSocketError, UnsupportedError } from "../core/errors.ts";
import { kStream } from "./internal.ts";
import type { Socket } from "./socket.ts";
import { type NativeCalls, nativeCalls, nativeMissing } from "./socket-backend.ts";
import type { StreamConnection } from "./stream-connection.ts";

/**
 * The longest one wait for the peer: the loop that waits sees a connection closed meanwhile
 * (a watchdog's cut) within this time. Where there is no reactor, the wait is in the
 * native call, on its pool thread, which it holds this long at most.
 */
const WAIT_MS = 100;

/** How long a native call itself waits for the peer: not at all where the loop can. */
function callWait(io: NativeCalls): number {
  return io.whenReady === undefined ? WAIT_MS : 0;
}

function addon(sock: Socket): { conn: StreamConnection; io: NativeCalls } | null {
  const io = nativeCalls();
  if (io === null) return null;
  try {
    return { conn: sock[kStream](), io };
  } catch {
    return null;
  }
}

/** A connection's descriptor, lent to the addon. */
class Lent {
  protected readonly conn: StreamConnection;
  protected readonly io: NativeCalls;
  protected readonly fd: number;
  protected readonly callMs: number;

  constructor(conn: StreamConnection, io: NativeCalls, fd: number) {
    this.conn = conn;
    this.io = io;
    this.fd = fd;
    this.callMs = callWait(io);
  }

  /** After a call that moved nothing: waits until the socket may move more (or a while). */
  protected async waitReady(writable: boolean): Promise<void> {
    await this.io.whenReady?.(this.fd, writable, WAIT_MS);
  }
}

/**
 * Reads a connection's bytes outside Node.js. While it exists, nothing else may read the
 * socket; {@link BulkReader.release} hands reading back.
 */
export class BulkReader extends Lent {
  /** Up to `max` bytes that had arrived before the loan (from the socket's buffer). */
  takeBuffered(max: number): Buffer {
    const queue = this.conn.queue;
    const taken = queue.take(Math.min(max, queue.length));
    this.conn.consumed();
    return taken;
  }

  /** Reads into `buf[offset, offset + length)`: bytes read (at least 1), 0 at end of stream. */
  async recvInto(buf: Buffer, offset: number, length: number): Promise<number> {
    for (;;) {
      this.conn.checkOpen("receive from");
      let n: number;
      try {
        n = await this.io.recvInto(this.fd, buf, offset, length, this.callMs);
      } catch (err) {
        throw toSocketError(err, `receive from ${this.conn.peerLabel}`);
      }
      if (n >= 0) return n;
      await this.waitReady(false);
    }
  }

  /** Gives reading back to the socket (its `recv`, `readline`, ...). */
  release(): void {
    this.conn.endLoan();
  }
}

/** A reader of `sock`'s bytes outside Node.js, or null when bulk reading cannot be had. */
export function bulkReader(sock: Socket): BulkReader | null {
  const found = addon(sock);
  const fd = found?.conn.lendForReading() ?? null;
  return found === null || fd === null ? null : new BulkReader(found.conn, found.io, fd);
}

/**
 * Writes a connection's bytes outside Node.js. Nothing else may send on the socket while
 * a {@link BulkWriter.sendall} runs.
 */
export class BulkWriter extends Lent {
  /** Sends every byte of `data`. */
  async sendall(data: Buffer): Promise<void> {
    for (let sent = 0; sent < data.length; ) {
      this.conn.checkOpen("send to");
      let n: number;
      try {
        n = await this.io.sendFrom(this.fd, data, sent, data.length - sent, this.callMs);
      } catch (err) {
        throw toSocketError(err, `send to ${this.conn.peerLabel}`);
      }
      sent += n;
      if (n === 0) await this.waitReady(true);
    }
  }

  /**
   * Sends the bytes of the file `fileFd` from `offset`, `count` of them or up to its end,
   * by sendfile(2): no byte passes through JavaScript. Returns how many were sent.
   */
  async sendFile(fileFd: number, offset: number, count: number): Promise<number> {
    let sent = 0;
    while (sent < count) {
      this.conn.checkOpen("send to");
      let n: number;
      try {
        n = await this.io.sendFile(this.fd, fileFd, offset + sent, count - sent, this.callMs);
      } catch (err) {
        throw toSocketError(err, `send to ${this.conn.peerLabel}`);
      }
      if (n === 0) break; // the file ended (it got shorter)
      if (n > 0) sent += n;
      else await this.waitReady(true); // no room: a slow peer
    }
    return sent;
  }
}

/**
 * A writer of `sock`'s bytes outside Node.js, once what the socket has queued is sent;
 * null when bulk writing cannot be had.
 */
export async function bulkWriter(sock: Socket): Promise<BulkWriter | null> {
  const found = addon(sock);
  return found === null ? null : bulkWriterOf(found.conn);
}

/** {@link bulkWriter} of a connection. */
export async function bulkWriterOf(conn: StreamConnection): Promise<BulkWriter | null> {
  const io = nativeCalls();
  const fd = io === null ? null : await conn.lendForWriting(null);
  return io === null || fd === null ? null : new BulkWriter(conn, io, fd);
}

/**
 * The size of one file write in {@link writeInSlices}. Linux allocates page-cache folios
 * as large as the write: a 32 KiB folio can be cut from the many small free blocks of a
 * running system, while megabyte folios come from large free blocks, which a virtual
 * machine with free page reporting (a common balloon setting) has handed back to its host,
 * so each of their pages costs a host fault when first written. On such a machine a 1 GiB
 * receive spent 1.2-1.8 s of system time in megabyte writes and 0.4-0.5 s in 32 KiB ones,
 * nothing else changed (bench/README.md); where memory is not handed back, 32 KiB writes
 * cost 0.05-0.2 s more per GiB.
 */
export const FILE_SLICE = 32 * 1024;

/**
 * Writes all of `data` to `fh` at its position (its end when opened to append), on the
 * thread pool, in writes of {@link FILE_SLICE} bytes. Needs the addon: callers hold a
 * {@link BulkReader}, which has it.
 */
export async function writeInSlices(fh: { readonly fd: number }, data: Buffer): Promise<void> {
  const io = nativeCalls();
  if (io === null) {
    throw new UnsupportedError(`Cannot write a file on the thread pool: ${nativeMissing()}`);
  }
  await io.writeFile(fh.fd, data, 0, data.length, FILE_SLICE);
}
