import cluster from "node:cluster";
import { fstat } from "node:fs";
import { type FileHandle, open as openFile } from "node:fs/promises";
import type { ConnectionOptions } from "node:tls";
import { promisify } from "node:util";
import {
  type Address,
  checkUnixAddress,
  formatAddress,
  type SocketAddress,
} from "../core/address.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  familyName,
  IPPROTO_TCP,
  IPPROTO_UDP,
  kindName,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_LINGER,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { GaiError, SocketError, toSocketError, UnsupportedError } from "../core/errors.ts";
import { BufferedReader, type BufferedReaderOptions } from "./buffered-reader.ts";
import { BufferedRWPair } from "./buffered-rw-pair.ts";
import { badState, checkSize, intoSize, toBuffer } from "./checks.ts";
import { deadlineFrom, waitMs } from "./deadline.ts";
import { getdefaulttimeout } from "./default-timeout.ts";
import { DgramBackend } from "./dgram-backend.ts";
import { resolveAddress } from "./getaddrinfo.ts";
import {
  kCloseNow,
  kConnectFrom,
  kConnectTls,
  kFileClosed,
  kReadiness,
  kStream,
  kTimeoutMs,
} from "./internal.ts";
import { NetStreamBackend, nodeHasReusePort } from "./net-stream-backend.ts";
import { CLOSED, type Readiness } from "./readiness.ts";
import {
  type BindOptions,
  nativeDatagrams,
  nativeMissing,
  nativeSupport,
  type SocketBackend,
} from "./socket-backend.ts";
import { StreamConnection } from "./stream-connection.ts";
import { Writer } from "./writer.ts";

export type { BindOptions } from "./socket-backend.ts";

/** Options of {@link socket} beyond Python's three arguments. */
export interface SocketOptions {
  /**
   * Bytes received and not yet read before the socket stops reading from the kernel
   * (TCP flow control then holds the peer back). Also settable as `SO_RCVBUF`.
   * @default 65536
   */
  highWaterMark?: number;
  /** Datagrams held unread before more are dropped (and counted). @default 4096 */
  maxQueuedDatagrams?: number;
  /** Bytes of datagrams held unread before more are dropped (and counted). @default 4194304 */
  maxQueuedBytes?: number;
  /**
   * TCP, Unix stream, UDP and Unix datagram sockets: run on the native addon's I/O path
   * (one epoll instance, reads of every ready socket in one call, UDP datagrams in batches
   * with recvmmsg, writes straight to the kernel) when the addon has it, on Linux; false
   * keeps them on node:net and node:dgram (Unix datagram sockets on the addon's
   * per-socket path). TLS always runs on node:net, and sockets of a
   * node:cluster worker on node:net and node:dgram. `SOCKETKIT_NO_NATIVE_IO=1` turns it
   * off for the whole process.
   * @default true
   */
  nativeIO?: boolean;
}

const fsFstat = promisify(fstat);

/** A backend made by someone else (`accept`, `dup`), for the constructor to take. */
let adopted: SocketBackend | null = null;

/**
 * The backend of a new socket of this kind: the native addon's for the types Node.js
 * lacks, node:net for streams, node:dgram for UDP. Refuses what none of them has.
 */
function backendFor(
  family: number,
  type: number,
  proto: number,
  options: SocketOptions,
): SocketBackend {
  const native = nativeSupport();
  if (native?.handles(family, type, proto)) return native.create(family, type, proto, options);
  if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNIX) {
    throw new UnsupportedError(
      `Cannot create socket: address family ${familyName(family)} is not supported (use AF_INET, AF_INET6 or AF_UNIX)`,
    );
  }
  if (type !== SOCK_STREAM && type !== SOCK_DGRAM) {
    throw new UnsupportedError(
      `Cannot create ${familyName(family)} ${kindName(type)} socket: Node.js has no such sockets and the socketkit native addon is not installed`,
    );
  }
  if (family === AF_UNIX && type === SOCK_DGRAM) {
    throw new UnsupportedError(
      "Cannot create AF_UNIX SOCK_DGRAM socket: Node.js has no Unix datagram sockets and the socketkit native addon is not installed",
    );
  }
  const allowed = type === SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
  if (proto !== 0 && (family === AF_UNIX || proto !== allowed)) {
    throw new SocketError(
      `Cannot create ${familyName(family)} ${kindName(type)} socket: protocol ${proto} not supported`,
      { code: "EPROTONOSUPPORT" },
    );
  }
  if (type === SOCK_STREAM) return new NetStreamBackend(family, options);
  // UDP on the native I/O path, as streams (not in a node:cluster worker, whose sockets
  // may be the primary's: `bind(address, { shared: true })`).
  const datagrams = options.nativeIO === false || cluster.isWorker ? null : nativeDatagrams();
  return datagrams?.create(family, options) ?? new DgramBackend(family, options);
}

/**
 * A socket with Python's API, as promises. Make one with {@link socket}, or get one from
 * `accept()`, `createConnection()` or `createServer()`.
 *
 * Stream sockets (TCP, Unix) keep at most `highWaterMark` unread bytes: above it the
 * socket stops reading and TCP flow control holds the peer back, so a flood never grows
 * the process. Half-close works both ways: after `shutdown(SHUT_WR)` you can still
 * `recv`, and a peer's FIN shows as an empty Buffer while you can still `sendall`.
 *
 * The socket checks arguments, keeps the timeout and the files made by `makefile`, and
 * hands the I/O to one backend chosen when it is made: for streams and UDP, the native
 * addon's I/O path where it is (see {@link SocketOptions.nativeIO}), else node:net and
 * node:dgram; the native addon for the types Node.js lacks.
 *
 * @example
 * ```ts
 * import { AF_INET, SOCK_STREAM, socket } from "socketkit";
 * await using s = socket(AF_INET, SOCK_STREAM);
 * await s.connect(["127.0.0.1", 5000]);
 * await s.sendall("hello");
 * const reply = await s.recv(1024);
 * ```
 */
export class Socket {
  /** Address family: `AF_INET`, `AF_INET6` or `AF_UNIX`. */
  readonly family: number;
  /** Socket type: `SOCK_STREAM` or `SOCK_DGRAM`. */
  readonly type: number;
  /** Protocol number (0 for the default). */
  readonly proto: number;
  /** Starts as `setdefaulttimeout` says, for accepted sockets too (as in Python). */
  #timeout: number | null = getdefaulttimeout();
  #backend: SocketBackend;
  readonly #options: SocketOptions;
  /** Files made by makefile and not closed yet (Python's `_io_refs`). */
  #files = new Set<object>();
  /** close() was called while files were open: closed when the last one closes. */
  #closeWanted = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  #ref = true;

  constructor(family = AF_INET, type = SOCK_STREAM, proto = 0, options: SocketOptions = {}) {
    this.family = family;
    this.type = type;
    this.proto = proto;
    this.#options = options;
    this.#backend = adopted ?? backendFor(family, type, proto, options);
    adopted = null;
  }

  /** A socket over a backend someone else made (an accepted connection, a duplicate). */
  #wrap(backend: SocketBackend): Socket {
    adopted = backend;
    return new Socket(this.family, this.type, this.proto, this.#options);
  }

  // ---------------------------------------------------------------- helpers

  #ensureOpen(action: string): void {
    if (this.#closed) throw badState(`Cannot ${action}: socket is closed`, "EBADF");
  }

  /** @internal Connect from this local address, without binding (and listening) first. */
  async [kConnectFrom](address: [string, number]): Promise<void> {
    await this.#backend.connectFrom(address);
  }

  /** @internal Run TLS over the connection `connect()` makes. */
  [kConnectTls](options: ConnectionOptions, fingerprint256?: string): void {
    this.#backend.useTls(options, fingerprint256 ?? null);
  }

  /** @internal The connection under a connected stream socket (for makefile). */
  [kStream](): StreamConnection {
    this.#ensureOpen("read");
    return this.#backend.connection("read");
  }

  /** @internal Milliseconds for one blocking step, from the socket timeout. */
  [kTimeoutMs](deadline: number | null): number | null {
    return waitMs(this.#timeout, deadline);
  }

  /** @internal A deadline for an operation starting now. */
  deadline(): number | null {
    return deadlineFrom(this.#timeout);
  }

  /** @internal What `socketkit/select` asks of this socket (see readiness.ts). */
  [kReadiness](): Readiness {
    return this.#closed ? CLOSED : this.#backend.readiness();
  }

  // ---------------------------------------------------------------- binding

  /**
   * Binds to a local address: `["", 0]` is every interface and a free port (read it back
   * with `getsockname()`), a path for AF_UNIX. Stream sockets start listening at once
   * (Node binds and listens together): connections made before `listen()` wait for
   * `accept()` as the kernel's queue would hold them. `options` are socketkit's own
   * (Python's `bind` takes the address alone): SO_REUSEPORT, IPv6 only, the kernel's
   * backlog, TLS for the connections accepted, a check of each peer.
   */
  async bind(address: Address, options: BindOptions = {}): Promise<void> {
    this.#ensureOpen("bind");
    await this.#backend.bind(address, options);
  }

  /**
   * Marks a bound stream socket as accepting connections. `backlog` bounds how many
   * connections wait for `accept()` (at least 511, as Node's own listen backlog);
   * more are closed at once and counted in `droppedConnections`.
   */
  listen(backlog?: number): void {
    this.#ensureOpen("listen");
    if (this.type === SOCK_DGRAM) {
      throw badState("Cannot listen: only stream sockets listen", "EOPNOTSUPP");
    }
    this.#backend.listen(backlog);
  }

  /**
   * Waits for a connection and returns `[socket, address]`, as Python's `accept()`.
   * Honors the timeout (`TimeoutError`) and non-blocking mode (`BlockingIOError`).
   */
  async accept(): Promise<[Socket, SocketAddress]> {
    this.#ensureOpen("accept");
    const [backend, address] = await this.#backend.accept(this.#timeout);
    return [this.#wrap(backend), address];
  }

  /** Accepted connections as an async iterable; it ends when the socket is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<[Socket, SocketAddress]> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (err) {
        if (err instanceof SocketError && err.code === "EBADF") return;
        throw err;
      }
    }
  }

  // ---------------------------------------------------------------- connecting

  /**
   * {@link Socket.connect} that resolves with an error number instead of raising, as
   * Python's `connect_ex`: 0 when connected, else the errno (`ECONNREFUSED` is 111). Errors
   * that are not a system call's (a bad address, a name that does not resolve) still raise.
   */
  async connect_ex(address: Address): Promise<number> {
    // The address is checked (and resolved) first: what is wrong with it raises. An IP
    // address is then connected to as resolved, so a name is looked up once.
    let target = address;
    if (this.family === AF_UNIX) checkUnixAddress(address, "connect");
    else {
      const { host, port } = await resolveAddress(this.family, address, "connect to");
      target = [host, port];
    }
    try {
      await this.connect(target);
      return 0;
    } catch (err) {
      if (err instanceof SocketError && err.errno > 0 && !(err instanceof GaiError))
        return err.errno;
      throw err;
    }
  }

  /**
   * Connects to a peer. For stream sockets this is the TCP (or Unix) connection, bounded
   * by the timeout; for datagram sockets it sets the default destination and filters
   * what `recv` sees to that peer. In non-blocking mode (`settimeout(0)`) it starts the
   * connection and throws `BlockingIOError` (`EINPROGRESS`) as Python does.
   */
  async connect(address: Address): Promise<void> {
    this.#ensureOpen(`connect to ${formatAddress(address)}`);
    await this.#backend.connect(address, this.#timeout);
  }

  // ---------------------------------------------------------------- sending

  /**
   * Sends some bytes and returns how many were taken (at most `SO_SNDBUF`, 64 KiB by
   * default); waits while that much is already queued. Use `sendall` to send everything.
   * The Buffer is kept by reference until written: do not change it afterwards.
   */
  async send(data: Buffer | Uint8Array | string): Promise<number> {
    this.#ensureOpen("send");
    return this.#backend.send(toBuffer(data), this.#timeout);
  }

  /**
   * Sends every byte; resolves once all are handed to the kernel (so memory stays bounded
   * by what you pass), or throws `TimeoutError` when the timeout runs out first.
   */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    if (this.#closed) return Promise.reject(badState("Cannot send: socket is closed", "EBADF"));
    return this.#backend.sendall(typeof data === "string" ? data : toBuffer(data), this.#timeout);
  }

  /**
   * `sendall(data)` on each of `sockets`, the same bytes to every one, for a message that
   * goes to many peers at once (a chat room's line to its members): on the native I/O
   * path every socket that can take the bytes now gets them in one native loop (one call
   * for them all, not one per socket); any other socket is sent to as `sendall` sends.
   * Returns one entry per socket: undefined when it took every byte at once, else the
   * promise of its `sendall` (resolved once the rest is handed to the kernel; rejected as
   * `sendall` rejects). The Buffer is kept by reference until written: do not change it.
   *
   * @example
   * ```ts
   * import { createConnection, Socket } from "socketkit";
   * const peers = [
   *   await createConnection(["127.0.0.1", 5000]),
   *   await createConnection(["127.0.0.1", 5001]),
   * ];
   * const sent = Socket.sendallEach(peers, "hello, everyone\n");
   * await Promise.all(sent); // undefined entries: sent already
   * ```
   */
  static sendallEach(
    sockets: readonly Socket[],
    data: Buffer | Uint8Array | string,
  ): (Promise<void> | undefined)[] {
    const buf = typeof data === "string" ? Buffer.from(data) : toBuffer(data);
    const out = new Array<Promise<void> | undefined>(sockets.length);
    const conns: StreamConnection[] = [];
    const timeouts: (number | null)[] = [];
    const at: number[] = [];
    for (let i = 0; i < sockets.length; i++) {
      const s = sockets[i] as Socket;
      // Anything with a sendall of its own (not a Socket) is sent to by it.
      const conn =
        !(#backend in s) || s.#closed ? null : (s.#backend.sendallConnection?.() ?? null);
      if (conn === null) {
        out[i] = s.sendall(buf);
        continue;
      }
      conns.push(conn);
      timeouts.push(
        (s as Socket).#timeout === null ? null : ((s as Socket).#timeout as number) * 1000,
      );
      at.push(i);
    }
    if (conns.length > 0) StreamConnection.sendallEach(conns, buf, timeouts, out, at);
    return out;
  }

  /** Sends one datagram to `address`; returns its length. Datagram sockets only. */
  sendto(data: Buffer | Uint8Array | string, address: Address): Promise<number> {
    if (this.#closed) {
      return Promise.reject(
        badState(`Cannot send to ${formatAddress(address)}: socket is closed`, "EBADF"),
      );
    }
    return this.#backend.sendto(toBuffer(data), address, this.#timeout);
  }

  /**
   * Sends a file's bytes, from `offset`, `count` of them or up to its end, and returns how
   * many were sent (Python's `sendfile`). `file` is a path, a descriptor or a `FileHandle`
   * of `node:fs/promises`. With the native addon and no timeout, the kernel copies them
   * (sendfile(2), zero-copy, on the thread pool); otherwise they are read and sent in
   * 64 KiB pieces, with the socket's timeout. Stream sockets only.
   */
  async sendfile(file: string | number | FileHandle, offset = 0, count?: number): Promise<number> {
    if (this.type !== SOCK_STREAM) {
      throw badState("Cannot sendfile: only SOCK_STREAM sockets are supported", "EINVAL");
    }
    checkSize(offset, "sendfile");
    if (count !== undefined) checkSize(count, "sendfile");
    if (this.#timeout === 0) {
      throw badState("Cannot sendfile: non-blocking sockets are not supported", "EINVAL");
    }
    this.#ensureOpen("send");
    const owned = typeof file === "string" ? await openFile(file, "r") : null;
    try {
      const handle = owned ?? file;
      const fd = typeof handle === "number" ? handle : (handle as FileHandle).fd;
      let size: number;
      try {
        ({ size } = await fsFstat(fd));
      } catch (err) {
        throw toSocketError(err, "sendfile");
      }
      const total = Math.max(0, Math.min(count ?? size - offset, size - offset));
      if (total === 0) return 0;
      return await this.#backend.sendfile(fd, offset, total, this.#timeout);
    } finally {
      await owned?.close();
    }
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Receives at most `bufsize` bytes, as soon as any are available; an empty Buffer means
   * the peer closed its side (end of stream). For datagram sockets: one datagram, cut to
   * `bufsize` as Python does.
   */
  recv(bufsize: number): Promise<Buffer> {
    if (this.#closed || !Number.isInteger(bufsize) || bufsize < 0)
      return this.#recvChecked(bufsize);
    return this.#backend.recv(bufsize, this.#timeout);
  }

  async #recvChecked(bufsize: number): Promise<Buffer> {
    checkSize(bufsize, "receive");
    this.#ensureOpen("receive");
    return this.#backend.recv(bufsize, this.#timeout);
  }

  /**
   * Receives at most `nbytes` bytes (all of `buffer` when 0) into `buffer`, as soon as any
   * are available, and returns how many: 0 means the peer closed its side. The bytes are
   * copied once, from the socket's buffer into yours. Datagram sockets: one datagram, cut
   * to fit, as Python does.
   */
  async recv_into(buffer: Uint8Array, nbytes = 0): Promise<number> {
    const n = intoSize(buffer, nbytes, "recv_into");
    this.#ensureOpen("receive");
    return this.#backend.recvInto(buffer, n, this.#timeout);
  }

  /**
   * {@link Socket.recv_into} that also returns who sent the bytes: `[nbytes, address]`.
   */
  async recvfrom_into(buffer: Uint8Array, nbytes = 0): Promise<[number, SocketAddress]> {
    const n = intoSize(buffer, nbytes, "recvfrom_into");
    if (this.type === SOCK_STREAM) {
      return [await this.recv_into(buffer, n), this.getpeername()];
    }
    const [data, from] = await this.recvfrom(n);
    buffer.set(data);
    return [data.length, from];
  }

  /**
   * A datagram already received, without waiting (for servers that read in a loop and
   * would rather not wait for each one): `[data, address]` as `recvfrom(bufsize)` gives
   * it, or undefined when none is queued or the socket is not a plain UDP socket (on
   * which `recvfrom` is the way).
   */
  recvfromNow(bufsize: number): [Buffer, SocketAddress] | undefined {
    if (this.#closed) return undefined;
    return this.#backend.takeDatagram(bufsize);
  }

  /**
   * Receives one datagram (at most `bufsize` bytes of it) and who sent it. On a stream
   * socket, returns `recv(bufsize)` and the peer's address.
   */
  async recvfrom(bufsize: number): Promise<[Buffer, SocketAddress]> {
    checkSize(bufsize, "receive");
    this.#ensureOpen("receive");
    return this.#backend.recvfrom(bufsize, this.#timeout);
  }

  // ---------------------------------------------------------------- closing

  /**
   * Shuts down one or both directions: `SHUT_WR` sends FIN after what is queued (the
   * socket can still receive), `SHUT_RD` makes `recv` return end of stream, `SHUT_RDWR`
   * both.
   */
  shutdown(how: number): void {
    this.#ensureOpen("shutdown");
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) {
      throw badState(
        `Cannot shutdown: how must be SHUT_RD, SHUT_WR or SHUT_RDWR, got ${how}`,
        "EINVAL",
      );
    }
    this.#backend.shutdown(how);
  }

  /**
   * Closes the socket. Bytes already queued are still sent (then FIN), as with Python;
   * calling it again does nothing. Resolves when the handle is released.
   */
  close(): Promise<void> {
    // Files made by makefile keep the socket open until the last of them closes (Python).
    if (this.#files.size > 0) {
      this.#closeWanted = true;
      return Promise.resolve();
    }
    return this[kCloseNow]();
  }

  /** @internal Closes now, whatever files are open (their reads then fail as closed). */
  [kCloseNow](): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = this.#backend.close();
    return this.#closing;
  }

  /** Closes the socket, so `await using s = socket()` releases it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Lets the process exit while this socket is open, as Node.js's `unref()` does: the
   * socket, and the timers of its timeouts (`settimeout`), no longer keep the event loop
   * alive, so a program whose only work left is this socket ends (the socket with it).
   * Applies to what the socket holds now and to what it makes later (its connection,
   * its listening or datagram socket). Sockets of the native addon's poll-based backend
   * (Unix datagram, SOCK_SEQPACKET, raw, and UDP with SO_REUSEPORT on a Node.js before
   * 22.12 with the native I/O path off) cannot: `UnsupportedError`. Python has
   * no such call: there a thread, not a socket, keeps a program alive.
   *
   * @example
   * ```ts
   * import { createConnection } from "socketkit";
   * const s = await createConnection(["127.0.0.1", 7]);
   * s.unref(); // the program may end while this waits
   * console.log(await s.recv(1024));
   * ```
   */
  unref(): this {
    this.#backend.setRef(false);
    this.#ref = false;
    return this;
  }

  /** Undoes {@link unref}: the socket keeps the process alive again (the default). */
  ref(): this {
    this.#backend.setRef(true);
    this.#ref = true;
    return this;
  }

  // ---------------------------------------------------------------- timeouts & options

  /**
   * Sets the timeout, in seconds, of connect, accept, recv, recvfrom, send and sendall:
   * `null` blocks forever, `0` is non-blocking (`BlockingIOError` when nothing is ready),
   * anything else raises `TimeoutError` when it runs out.
   */
  settimeout(value: number | null): void {
    if (value !== null && (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value))) {
      throw new SocketError(
        `Cannot set timeout: ${value} is out of range (use null or seconds >= 0)`,
        { code: "EINVAL" },
      );
    }
    this.#timeout = value;
  }

  /** The timeout in seconds, or null when blocking. */
  gettimeout(): number | null {
    return this.#timeout;
  }

  /** Whether the socket blocks: false only in non-blocking mode (timeout 0), as in Python. */
  getblocking(): boolean {
    return this.#timeout !== 0;
  }

  /** `setblocking(false)` is `settimeout(0)`, `setblocking(true)` is `settimeout(null)`. */
  setblocking(flag: boolean): void {
    this.settimeout(flag ? null : 0);
  }

  /**
   * Closes a connected stream socket that has neither sent nor received anything for
   * `seconds` (null or 0: never), as servers do with idle clients: its waiting calls
   * then fail as if the peer had reset it. Python has no such call (a server there runs
   * a timer per connection); socketkit's servers and `listen --idle-timeout` use it.
   *
   * @example
   * ```ts
   * import { createConnection } from "socketkit";
   * await using s = await createConnection(["127.0.0.1", 5000]);
   * s.setIdleTimeout(300); // five minutes of silence either way ends it
   * ```
   */
  setIdleTimeout(seconds: number | null): void {
    if (
      seconds !== null &&
      (typeof seconds !== "number" || !(seconds >= 0) || !Number.isFinite(seconds))
    ) {
      throw new SocketError(
        `Cannot set the idle timeout: ${seconds} is out of range (use null or seconds >= 0)`,
        { code: "EINVAL" },
      );
    }
    this.#ensureOpen("set the idle timeout");
    this.#backend.setIdleTimeout(seconds);
  }

  /**
   * Sets an option: `SO_REUSEADDR`, `SO_REUSEPORT`, `SO_KEEPALIVE`, `SO_RCVBUF`,
   * `SO_SNDBUF`, `SO_LINGER` (level `SOL_SOCKET`) or `TCP_NODELAY` (level `IPPROTO_TCP`).
   * `SO_LINGER` takes bytes, as in Python: `struct.pack("ii", 1, 0)` is
   * `Buffer.from(new Int32Array([1, 0]).buffer)`, and makes `close()` reset the connection
   * at once, dropping what was not sent (stream sockets; a linger time above 0 is refused
   * on node:net's). Others raise
   * `UnsupportedError` (the native addon's sockets take any the kernel does). On stream
   * sockets `SO_RCVBUF` and `SO_SNDBUF` set socketkit's own receive and send buffer
   * limits (the kernel's are auto-tuned); on datagram sockets, the kernel's.
   */
  setsockopt(level: number, option: number, value: number | boolean | Uint8Array): void {
    this.#ensureOpen("setsockopt");
    if (value instanceof Uint8Array) {
      this.#backend.setsockopt(level, option, lingerBytes(level, option, value));
      return;
    }
    const v = typeof value === "boolean" ? Number(value) : value;
    if (!Number.isInteger(v) || v < 0) {
      throw new SocketError(
        `Cannot setsockopt: value must be a non-negative integer, got ${value}`,
        { code: "EINVAL" },
      );
    }
    if (level === SOL_SOCKET && option === SO_REUSEPORT) this.#reusePortDatagram();
    this.#backend.setsockopt(level, option, v);
  }

  /**
   * UDP with SO_REUSEPORT on a Node.js that cannot set it (before 22.12): the socket,
   * not bound yet and so holding nothing, moves to the native addon's backend, which can.
   * The one case where a socket's backend is not the one it was made with.
   */
  #reusePortDatagram(): void {
    const backend = this.#backend;
    if (!(backend instanceof DgramBackend) || nodeHasReusePort()) return;
    if (backend.bound) {
      throw badState("Cannot setsockopt SO_REUSEPORT: set it before bind()", "EINVAL");
    }
    const native = nativeSupport();
    if (native === null || native.calls === null) {
      throw new UnsupportedError(
        `Cannot setsockopt SO_REUSEPORT on a UDP socket: Node.js ${process.version} cannot set it (22.12 and later can) and ${nativeMissing()}; run \`npm run build:native\``,
      );
    }
    // The native I/O path's UDP backend where it may be used (a worker's own SO_REUSEPORT
    // socket too), else the addon's poll-based one.
    const datagrams = this.#options.nativeIO === false ? null : nativeDatagrams();
    this.#backend =
      datagrams?.create(this.family, this.#options) ??
      native.create(this.family, SOCK_DGRAM, this.proto, this.#options);
    void backend.close();
    if (!this.#ref) this.#backend.setRef(false);
  }

  /** Reads an option set with {@link setsockopt}; the same options are supported. */
  getsockopt(level: number, option: number): number {
    this.#ensureOpen("getsockopt");
    return this.#backend.getsockopt(level, option);
  }

  // ---------------------------------------------------------------- names

  /** This socket's own address (`["0.0.0.0", 0]` before it is bound, as in Python). */
  getsockname(): SocketAddress {
    this.#ensureOpen("getsockname");
    return this.#backend.getsockname();
  }

  /** The connected peer's address; `ENOTCONN` when not connected. */
  getpeername(): SocketAddress {
    this.#ensureOpen("getpeername");
    return this.#backend.getpeername();
  }

  // ---------------------------------------------------------------- files & stats

  /**
   * A file-like view of a connected stream socket, as Python's `makefile`: `"r"` gives a
   * {@link BufferedReader} (`readline`, `read`, `readexactly`, `readuntil`, line
   * iteration), `"w"` a {@link Writer} (`write`, `drain`, `close`).
   */
  makefile(mode?: "r" | "rb", options?: BufferedReaderOptions): BufferedReader;
  makefile(mode: "w" | "wb"): Writer;
  makefile(mode: "rw" | "rwb" | "wr" | "wrb", options?: BufferedReaderOptions): BufferedRWPair;
  makefile(
    mode: "r" | "rb" | "w" | "wb" | "rw" | "rwb" | "wr" | "wrb" = "r",
    options: BufferedReaderOptions = {},
  ): BufferedReader | Writer | BufferedRWPair {
    if (this.type !== SOCK_STREAM) {
      throw badState("Cannot makefile: only stream sockets have a file view", "EOPNOTSUPP");
    }
    const chars = new Set(typeof mode === "string" ? mode : "");
    if (
      chars.size === 0 ||
      chars.size !== mode.length ||
      [...chars].some((c) => c !== "r" && c !== "w" && c !== "b") ||
      !(chars.has("r") || chars.has("w"))
    ) {
      throw badState(
        `Cannot makefile: mode must be "r", "w" or "rw" (and "b"), got ${JSON.stringify(mode)}`,
        "EINVAL",
      );
    }
    this.#ensureOpen("makefile");
    const reader = chars.has("r") ? new BufferedReader(this, options) : null;
    const writer = chars.has("w") ? new Writer(this) : null;
    // Each side holds the socket open until it is closed (a pair: until both are).
    if (reader !== null) this.#files.add(reader);
    if (writer !== null) this.#files.add(writer);
    if (reader !== null && writer !== null) return new BufferedRWPair(reader, writer);
    return (reader ?? writer) as BufferedReader | Writer;
  }

  /**
   * @internal A file was closed: if makefile made it, the socket no longer waits for it,
   * and closes for real if close() was called and it was the last.
   */
  [kFileClosed](file: object): Promise<void> {
    if (!this.#files.delete(file)) return Promise.resolve();
    return this.#files.size === 0 && this.#closeWanted ? this.close() : Promise.resolve();
  }

  /**
   * The socket's file descriptor, as Python's `fileno()`: -1 once closed, or before the
   * descriptor exists (a socket neither bound nor connected: Node.js makes it then).
   */
  fileno(): number {
    return this.#closed ? -1 : this.#backend.fileno();
  }

  /**
   * A new socket for the same connection (or listening socket), on a duplicate of its
   * descriptor, as Python's `dup()`: both read and write the one kernel socket, and each
   * is closed on its own. Connected or listening stream sockets, with the native addon.
   */
  async dup(): Promise<Socket> {
    this.#ensureOpen("dup");
    const copy = this.#wrap(await this.#backend.dup());
    copy.#timeout = this.#timeout;
    return copy;
  }

  /**
   * Closes the socket object but not the connection, and returns a descriptor of it, as
   * Python's `detach()`: the caller owns that descriptor from then on. (It is a duplicate:
   * Node.js cannot let go of a descriptor it made without closing it.) Connected or
   * listening stream sockets, with the native addon.
   */
  async detach(): Promise<number> {
    this.#ensureOpen("detach");
    const fd = this.#backend.dupFd("detach");
    await this[kCloseNow]();
    return fd;
  }

  /** Datagrams dropped because the receive queue was full (datagram sockets). */
  get droppedDatagrams(): number {
    return this.#backend.droppedDatagrams;
  }

  /** Connections closed because too many were waiting for `accept()` (listening sockets). */
  get droppedConnections(): number {
    return this.#backend.droppedConnections;
  }

  /** Python-style description, e.g. `<socket family=AF_INET type=SOCK_STREAM laddr=...>`. */
  toString(): string {
    const parts = [
      `family=${familyName(this.family)}`,
      `type=${kindName(this.type)}`,
      `proto=${this.proto}`,
    ];
    if (this.#closed) parts.unshift("[closed]");
    else {
      try {
        parts.push(`laddr=${formatAddress(this.getsockname())}`);
        if (this.#backend.connected) parts.push(`raddr=${formatAddress(this.getpeername())}`);
      } catch {
        // names unavailable
      }
    }
    return `<socket ${parts.join(" ")}>`;
  }
}

/**
 * Creates a socket, as Python's `socket.socket(family, type, proto)`.
 *
 * @example
 * ```ts
 * import { AF_INET, SOCK_DGRAM, socket } from "socketkit";
 * const udp = socket(AF_INET, SOCK_DGRAM);
 * await udp.sendto("Hello, World", ["127.0.0.1", 12345]);
 * await udp.close();
 * ```
 */
export function socket(
  family = AF_INET,
  type = SOCK_STREAM,
  proto = 0,
  options: SocketOptions = {},
): Socket {
  return new Socket(family, type, proto, options);
}

/**
 * The 8 bytes of SO_LINGER (`struct linger`: two native-endian int32), checked: the one
 * option whose value is bytes.
 */
function lingerBytes(level: number, option: number, value: Uint8Array): Buffer {
  if (level !== SOL_SOCKET || option !== SO_LINGER) {
    throw new SocketError(
      `Cannot setsockopt ${level}/${option} with bytes: only SO_LINGER takes them (struct.pack("ii", onoff, seconds))`,
      { code: "EINVAL" },
    );
  }
  if (value.byteLength !== 8) {
    throw new SocketError(
      `Cannot setsockopt SO_LINGER: its value is 8 bytes (struct.pack("ii", onoff, seconds)), got ${value.byteLength}`,
      { code: "EINVAL" },
    );
  }
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
