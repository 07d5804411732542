import cluster from "node:cluster";
import { randomBytes } from "node:crypto";
import { read } from "node:fs";
import { Socket as NetSocket, type Server } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import {
  type Address,
  checkUnixAddress,
  formatAddress,
  type SocketAddress,
  toSocketAddress,
} from "../core/address.ts";
import {
  AF_INET6,
  AF_UNIX,
  familyName,
  IPPROTO_TCP,
  kindName,
  SHUT_RD,
  SHUT_WR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../core/constants.ts";
import { BlockingIOError, SocketError, toSocketError, UnsupportedError } from "../core/errors.ts";
import { bulkWriterOf } from "./bulk.ts";
import { badState, EMPTY } from "./checks.ts";
import { deadlineFrom, remaining, waitMs } from "./deadline.ts";
import { resolveAddress } from "./getaddrinfo.ts";
import { type Admit, Listener } from "./listener.ts";
import { connecting, type Readiness, UNCONNECTED } from "./readiness.ts";
import {
  type BackendOptions,
  type BindOptions,
  type NativeStreams,
  nativeCalls,
  nativeMissing,
  nativeStreams,
  type SocketBackend,
} from "./socket-backend.ts";
import { DEFAULT_HIGH_WATER_MARK, type DirectRead, StreamConnection } from "./stream-connection.ts";
import { timeoutError } from "./waiters.ts";

const fsRead = promisify(read);

/** Whether this Node.js can set SO_REUSEPORT on its own (22.12+ or 23.1+). */
export function nodeHasReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The options a listening socket hands to the connections it accepts. */
interface Inherited {
  highWaterMark: number;
  sendBufferSize: number;
  keepAlive: number;
  noDelay: number;
}

/**
 * A stream socket (TCP or Unix) on node:net: nothing yet, then a connection
 * ({@link StreamConnection}) or a listening socket ({@link Listener}). Node.js binds and
 * listens in one step, so a bound socket listens at once; a later `connect` releases the
 * listener and connects from its address.
 */
export class NetStreamBackend implements SocketBackend {
  readonly #family: number;
  readonly #options: BackendOptions;
  #highWaterMark: number;
  #sendBufferSize = DEFAULT_HIGH_WATER_MARK;
  #reuseAddr = 0;
  #reusePort = 0;
  #keepAlive = 0;
  /** SO_LINGER on with 0 seconds: `close()` resets the connection. */
  #resetOnClose = false;
  #noDelay = 0;
  #conn: StreamConnection | null = null;
  #listener: Listener | null = null;
  #listening = false;
  #connecting: Promise<void> | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  #ref = true;
  /** TLS to run over the connection (createConnection's `tls`), and a pinned fingerprint. */
  #tls: ConnectionOptions | null = null;
  #pin: string | null = null;
  /** Local address to connect from (createConnection's sourceAddress). */
  #source: { localAddress: string; localPort: number } | null = null;
  /** AF_UNIX: the path this socket connected to (the peer's name). */
  #unixPeer = "";
  /** AF_UNIX: the path of the listening socket an accepted socket came from. */
  #unixLocal = "";
  /** The general `recv`, for a direct read that something other than data woke. */
  #recvFallback: ((read: DirectRead) => Promise<Buffer>) | null = null;

  constructor(family: number, options: BackendOptions = {}) {
    this.#family = family;
    this.#options = options;
    this.#highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  }

  /** An accepted connection (or a duplicate), with the options of the socket it came from. */
  static #adopting(
    family: number,
    options: BackendOptions,
    conn: StreamConnection,
    inherited: Inherited,
    unixLocal: string,
  ): NetStreamBackend {
    const b = new NetStreamBackend(family, options);
    b.#highWaterMark = inherited.highWaterMark;
    b.#sendBufferSize = inherited.sendBufferSize;
    b.#keepAlive = inherited.keepAlive;
    b.#noDelay = inherited.noDelay;
    b.#conn = conn;
    b.#unixLocal = unixLocal;
    b.#applyStreamOptions(conn);
    conn.start();
    return b;
  }

  get #inherited(): Inherited {
    return {
      highWaterMark: this.#highWaterMark,
      sendBufferSize: this.#sendBufferSize,
      keepAlive: this.#keepAlive,
      noDelay: this.#noDelay,
    };
  }

  get connected(): boolean {
    return this.#conn !== null;
  }

  get droppedDatagrams(): number {
    return 0;
  }

  get droppedConnections(): number {
    return this.#listener?.dropped ?? 0;
  }

  async #stream(action: string): Promise<StreamConnection> {
    if (this.#connecting) await this.#connecting;
    if (this.#closed) throw badState(`Cannot ${action}: socket is closed`, "EBADF");
    if (this.#conn === null) {
      throw badState(`Cannot ${action}: socket is not connected`, "ENOTCONN");
    }
    return this.#conn;
  }

  connection(action: string): StreamConnection {
    if (this.#conn === null) {
      throw badState(`Cannot ${action}: socket is not connected`, "ENOTCONN");
    }
    return this.#conn;
  }

  sendallConnection(): StreamConnection | null {
    return this.#connecting === null ? this.#conn : null;
  }

  /**
   * The native I/O path for this socket's connections and listening socket, or null:
   * not without the addon's reactor, not with `nativeIO: false`, and not in a node:cluster
   * worker (whose listening sockets node:net shares with the primary).
   */
  #streams(): NativeStreams | null {
    if (this.#options.nativeIO === false || cluster.isWorker) return null;
    return nativeStreams();
  }

  /** A server factory for `Listener.open`: the native path's, for plain (not TLS) listening. */
  #serverMaker(tls: unknown): (() => Server) | undefined {
    const streams = tls === undefined ? this.#streams() : null;
    return streams === null ? undefined : () => streams.server();
  }

  #applyStreamOptions(conn: StreamConnection): void {
    if (!this.#ref) conn.setRef(false);
    if (this.#keepAlive) conn.socket.setKeepAlive(true);
    if (this.#noDelay) conn.socket.setNoDelay(true);
    conn.sendBufferSize = this.#sendBufferSize;
  }

  readiness(): Readiness {
    if (this.#connecting !== null) return connecting(this.#connecting);
    return this.#conn ?? (this.#listening ? this.#listener : null) ?? UNCONNECTED;
  }

  fileno(): number {
    return (this.#conn ?? this.#listener)?.fileno() ?? -1;
  }

  setRef(ref: boolean): void {
    this.#ref = ref;
    this.#conn?.setRef(ref);
    this.#listener?.setRef(ref);
  }

  setIdleTimeout(seconds: number | null): void {
    this.connection("set the idle timeout").setIdleTimeout(seconds);
  }

  // ---------------------------------------------------------------- binding

  async bind(address: Address, options: BindOptions): Promise<void> {
    const label = formatAddress(address);
    if (this.#listener || this.#conn) {
      throw badState(`Cannot bind ${label}: socket is already bound`, "EINVAL");
    }
    const reusePort = options.reusePort || this.#reusePort === 1;
    if (reusePort) this.#reusePort = 1;
    const calls = nativeCalls();
    if (reusePort && !nodeHasReusePort() && calls === null && this.#streams() === null) {
      throw new UnsupportedError(
        `Cannot bind ${label} with SO_REUSEPORT: needs Node.js >= 22.12 (this is ${process.version}) or the socketkit native addon (${nativeMissing()}; run \`npm run build:native\`)`,
      );
    }
    const backlog = options.backlog ?? 511;
    const admit = this.#admitOf(options.admit);
    const make = this.#serverMaker(options.tls);
    if (this.#family === AF_UNIX) {
      this.#listener =
        address === ""
          ? await this.#autobind(backlog, options, admit, make)
          : await Listener.open(
              { path: checkUnixAddress(address, "bind"), backlog },
              label,
              options.tls,
              admit,
              make,
            );
      if (!this.#ref) this.#listener.setRef(false);
      return;
    }
    const { host, port } = await resolveAddress(this.#family, address, "bind");
    const where = formatAddress([host, port]);
    let listenOptions: Parameters<typeof Listener.open>[0] & { reusePort?: boolean } = {
      host,
      port,
      backlog,
      ipv6Only: options.ipv6Only ?? false,
    };
    // The native path and Node.js 22.12 and later set SO_REUSEPORT themselves.
    if (reusePort && (make !== undefined || nodeHasReusePort())) listenOptions.reusePort = true;
    else if (reusePort && calls !== null) {
      // This Node.js cannot set SO_REUSEPORT: the addon makes the listening socket.
      const fd = calls.reusePortListener(
        this.#family,
        host,
        port,
        backlog,
        options.ipv6Only ?? false,
        where,
      );
      // exclusive: in a cluster worker, this socket is the worker's own (not the primary's).
      listenOptions = { fd, backlog, exclusive: true } as typeof listenOptions;
    }
    this.#listener = await Listener.open(listenOptions, where, options.tls, admit, make);
    if (!this.#ref) this.#listener.setRef(false);
    const bound = this.#listener.server.address();
    if (bound && typeof bound === "object") {
      this.#listener.label = formatAddress([bound.address, bound.port]);
    }
  }

  /**
   * Linux's autobind for `bind("")` on a Unix stream socket (which Node.js cannot ask the
   * kernel for): a free abstract name of five hex digits, as the kernel picks, tried
   * until one is free.
   */
  async #autobind(
    backlog: number,
    options: BindOptions,
    admit: Admit | null,
    make: (() => Server) | undefined,
  ): Promise<Listener> {
    for (let tries = 0; ; tries++) {
      const path = `\0${randomBytes(3).toString("hex").slice(0, 5)}`;
      try {
        return await Listener.open(
          { path, backlog },
          formatAddress(path),
          options.tls,
          admit,
          make,
        );
      } catch (err) {
        if (!(err instanceof SocketError) || err.code !== "EADDRINUSE" || tries >= 100) throw err;
      }
    }
  }

  /** `admit`, asked about a connection's peer address (`""` for a Unix socket's peer). */
  #admitOf(admit: ((peer: SocketAddress) => boolean) | undefined): Admit | null {
    if (admit === undefined) return null;
    return (ns) =>
      admit(
        this.#family === AF_UNIX
          ? ""
          : toSocketAddress(this.#family, ns.remoteAddress ?? "", ns.remotePort ?? 0),
      );
  }

  listen(backlog: number | undefined): void {
    if (this.#listener === null) {
      throw badState("Cannot listen: bind() the socket to an address first", "EINVAL");
    }
    if (backlog !== undefined) this.#listener.queueLimit = Math.max(backlog, 511);
    this.#listening = true;
  }

  async accept(timeout: number | null): Promise<[SocketBackend, SocketAddress]> {
    const listener = this.#listener;
    if (listener === null || !this.#listening) {
      throw badState("Cannot accept: socket is not listening (call bind() and listen())", "EINVAL");
    }
    const deadline = deadlineFrom(timeout);
    for (;;) {
      const ns = listener.take();
      if (ns !== undefined) return this.#adoptAccepted(ns, listener);
      const err = listener.takeError("accept on");
      if (err) throw err;
      if (listener.closed || this.#closed) {
        throw badState(`Cannot accept on ${listener.label}: socket is closed`, "EBADF");
      }
      await listener.acceptors.wait(waitMs(timeout, deadline), `accept on ${listener.label}`);
    }
  }

  #adoptAccepted(ns: NetSocket, listener: Listener): [SocketBackend, SocketAddress] {
    let address: SocketAddress;
    let peer: string;
    if (this.#family === AF_UNIX) {
      address = "";
      peer = `peer of ${listener.label}`;
    } else {
      address = toSocketAddress(this.#family, ns.remoteAddress ?? "", ns.remotePort ?? 0);
      peer = formatAddress(address);
    }
    const conn = new StreamConnection(ns, peer, {
      highWaterMark: this.#highWaterMark,
      paused: true,
    });
    const local = this.#family === AF_UNIX ? listener.label : "";
    return [
      NetStreamBackend.#adopting(this.#family, this.#options, conn, this.#inherited, local),
      address,
    ];
  }

  // ---------------------------------------------------------------- connecting

  useTls(options: ConnectionOptions, fingerprint256: string | null): void {
    this.#tls = options;
    this.#pin = fingerprint256?.toUpperCase() ?? null;
  }

  async connectFrom(address: [string, number]): Promise<void> {
    const { host, port } = await resolveAddress(this.#family, address, "bind");
    this.#source = { localAddress: host, localPort: port };
  }

  async connect(address: Address, timeout: number | null): Promise<void> {
    const label = formatAddress(address);
    if (this.#conn || this.#connecting) {
      throw badState(`Cannot connect to ${label}: socket is already connected`, "EISCONN");
    }
    const pending = this.#connectStream(address, label, timeout);
    if (timeout === 0) {
      this.#connecting = pending.finally(() => {
        this.#connecting = null;
      });
      this.#connecting.catch(() => {});
      throw new BlockingIOError(`Cannot connect to ${label}: operation now in progress`, {
        code: "EINPROGRESS",
      });
    }
    await pending;
  }

  async #connectStream(address: Address, label: string, timeout: number | null): Promise<void> {
    const action = `connect to ${label}`;
    const deadline = deadlineFrom(timeout === 0 ? null : timeout);
    let target: { path: string } | { host: string; port: number; family: number };
    if (this.#family === AF_UNIX) {
      target = { path: checkUnixAddress(address, "connect") };
    } else {
      const { host, port } = await resolveAddress(this.#family, address, "connect to");
      target = { host, port, family: this.#family === AF_INET6 ? 6 : 4 };
    }
    // bind() before connect() chose the local address: release the listener, reuse it.
    let local: { localAddress?: string; localPort?: number } = this.#source ?? {};
    if (this.#listener) {
      const bound = this.#listener.server.address();
      if (bound && typeof bound === "object") {
        local = { localAddress: bound.address, localPort: bound.port };
      }
      await this.#listener.close();
      this.#listener = null;
    }
    const tlsOptions = this.#tls;
    const ns: NetSocket =
      tlsOptions === null
        ? (this.#streams()?.socket() ?? new NetSocket({ allowHalfOpen: true }))
        : // allowHalfOpen is passed on to the TLSSocket, though the typings leave it out.
          tlsConnect({
            ...tlsOptions,
            ...target,
            ...local,
            allowHalfOpen: true,
          } as unknown as ConnectionOptions);
    const conn = new StreamConnection(ns, label, { highWaterMark: this.#highWaterMark });
    if (!this.#ref) conn.setRef(false);
    const ready = tlsOptions === null ? "connect" : "secureConnect";
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onConnect = () => {
        ns.off("error", onError);
        if (timer) clearTimeout(timer);
        const pinned = this.#pin;
        if (pinned !== null) {
          const seen = (ns as TLSSocket).getPeerCertificate().fingerprint256?.toUpperCase();
          if (seen !== pinned) {
            reject(
              new SocketError(
                `Cannot ${action}: certificate fingerprint ${seen ?? "(none)"} is not the pinned ${pinned}`,
                { code: "ERR_TLS_FINGERPRINT" },
              ),
            );
            return;
          }
        }
        resolve();
      };
      const onError = (err: Error) => {
        ns.off(ready, onConnect);
        if (timer) clearTimeout(timer);
        reject(toSocketError(err, action));
      };
      ns.once(ready, onConnect);
      ns.once("error", onError);
      const ms = remaining(deadline);
      if (ms !== null) {
        timer = setTimeout(() => {
          ns.off(ready, onConnect);
          ns.off("error", onError);
          ns.destroy();
          reject(timeoutError(action));
        }, ms);
        if (!this.#ref) timer.unref();
      }
      if (tlsOptions === null) ns.connect({ ...target, ...local });
    }).catch((err) => {
      ns.destroy();
      throw err;
    });
    if (this.#closed) {
      ns.destroy();
      throw badState(`Cannot ${action}: socket was closed while connecting`, "EBADF");
    }
    if (this.#family === AF_UNIX) this.#unixPeer = (target as { path: string }).path;
    this.#conn = conn;
    this.#applyStreamOptions(conn);
  }

  // ---------------------------------------------------------------- sending

  async send(data: Buffer, timeout: number | null): Promise<number> {
    const conn = await this.#stream("send");
    return conn.send(data, waitMs(timeout, deadlineFrom(timeout)));
  }

  sendall(data: Buffer | string, timeout: number | null): Promise<void> {
    const conn = this.#conn;
    // Hot path: a connected socket goes straight to its connection.
    if (conn !== null && this.#connecting === null) {
      return conn.sendall(data, timeout === null ? null : waitMs(timeout, deadlineFrom(timeout)));
    }
    return this.#sendallSlow(data, timeout);
  }

  async #sendallSlow(data: Buffer | string, timeout: number | null): Promise<void> {
    const conn = await this.#stream("send");
    await conn.sendall(data, waitMs(timeout, deadlineFrom(timeout)));
  }

  async sendto(_data: Buffer, address: Address): Promise<number> {
    throw badState(
      `Cannot send to ${formatAddress(address)}: sendto needs a datagram socket (use sendall)`,
      "EISCONN",
    );
  }

  async sendfile(
    fd: number,
    offset: number,
    total: number,
    timeout: number | null,
  ): Promise<number> {
    const conn = await this.#stream("send");
    try {
      const writer = timeout === null ? await bulkWriterOf(conn) : null;
      if (writer !== null) return await writer.sendFile(fd, offset, total);
      let sent = 0;
      while (sent < total) {
        // A new piece each time: the one before may still wait in the send queue.
        const piece = Buffer.allocUnsafe(Math.min(total - sent, 64 * 1024));
        const { bytesRead } = await fsRead(fd, piece, 0, piece.length, offset + sent);
        if (bytesRead === 0) break;
        await conn.sendall(piece.subarray(0, bytesRead), waitMs(timeout, deadlineFrom(timeout)));
        sent += bytesRead;
      }
      return sent;
    } catch (err) {
      throw toSocketError(err, `sendfile to ${conn.peerLabel}`);
    }
  }

  // ---------------------------------------------------------------- receiving

  recv(bufsize: number, timeout: number | null): Promise<Buffer> {
    const conn = this.#conn;
    // Hot path: a connected socket without a timeout, and a size above 0.
    if (conn === null || this.#connecting !== null || timeout !== null || bufsize === 0) {
      return this.#recvSlow(bufsize, timeout);
    }
    if (conn.queue.length > 0) {
      const out = conn.queue.take(bufsize);
      conn.consumed();
      return Promise.resolve(out);
    }
    if (conn.eof || conn.readShut || conn.failed || conn.closed) {
      return this.#recvSlow(bufsize, timeout);
    }
    this.#recvFallback ??= (read) => this.#recvSlow(read.size, null);
    return (
      conn.readDirect(bufsize, null, 0, null, this.#recvFallback) ??
      this.#recvSlow(bufsize, timeout)
    );
  }

  async #recvSlow(bufsize: number, timeout: number | null): Promise<Buffer> {
    const conn = this.#conn !== null ? this.#conn : await this.#stream("receive");
    if (bufsize === 0 || !(await this.#dataIn(conn, timeout))) return EMPTY;
    const out = conn.queue.take(bufsize);
    conn.consumed();
    return out;
  }

  /**
   * Waits, with the timeout, until `conn` holds bytes to read (true) or its stream has
   * ended (false); throws when it failed or the socket was closed.
   */
  async #dataIn(conn: StreamConnection, timeout: number | null): Promise<boolean> {
    const deadline = deadlineFrom(timeout);
    for (;;) {
      if (conn.queue.length > 0) return true;
      if (conn.eof || conn.readShut) return false;
      conn.checkOpen("receive from");
      if (this.#closed) {
        throw badState(`Cannot receive from ${conn.peerLabel}: socket is closed`, "EBADF");
      }
      await conn.readers.wait(waitMs(timeout, deadline), `receive from ${conn.peerLabel}`);
    }
  }

  async recvInto(buffer: Uint8Array, nbytes: number, timeout: number | null): Promise<number> {
    if (nbytes === 0) return 0;
    const conn = this.#conn !== null ? this.#conn : await this.#stream("receive");
    if (!(await this.#dataIn(conn, timeout))) return 0;
    const got = conn.queue.takeInto(buffer, 0, nbytes);
    conn.consumed();
    return got;
  }

  async recvfrom(bufsize: number, timeout: number | null): Promise<[Buffer, SocketAddress]> {
    return [await this.recv(bufsize, timeout), this.getpeername()];
  }

  takeDatagram(): undefined {
    return undefined;
  }

  // ---------------------------------------------------------------- closing

  shutdown(how: number): void {
    const conn = this.#conn;
    if (conn === null) throw badState("Cannot shutdown: socket is not connected", "ENOTCONN");
    if (how !== SHUT_WR) conn.shutdownRead();
    if (how !== SHUT_RD) conn.shutdownWrite();
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const parts: Promise<void>[] = [];
    if (this.#conn) parts.push(this.#resetOnClose ? this.#conn.reset() : this.#conn.close());
    if (this.#listener) parts.push(this.#listener.close());
    this.#closing = Promise.all(parts).then(() => undefined);
    return this.#closing;
  }

  // ---------------------------------------------------------------- options & names

  setsockopt(level: number, option: number, value: number | Buffer): void {
    if (level === SOL_SOCKET && option === SO_LINGER) {
      this.#setLinger(value);
      return;
    }
    const v = value as number;
    if (level === SOL_SOCKET) {
      switch (option) {
        case SO_REUSEADDR:
          this.#reuseAddr = v ? 1 : 0;
          return;
        case SO_REUSEPORT:
          if (this.#family === AF_UNIX) break;
          this.#reusePort = v ? 1 : 0;
          return;
        case SO_KEEPALIVE:
          this.#keepAlive = v ? 1 : 0;
          this.#conn?.socket.setKeepAlive(v !== 0);
          return;
        case SO_RCVBUF:
          // socketkit's own receive buffer: the kernel's is auto-tuned.
          this.#highWaterMark = Math.max(1, v);
          if (this.#conn) this.#conn.highWaterMark = this.#highWaterMark;
          return;
        case SO_SNDBUF:
          this.#sendBufferSize = Math.max(1, v);
          if (this.#conn) this.#conn.sendBufferSize = this.#sendBufferSize;
          return;
      }
    } else if (level === IPPROTO_TCP && option === TCP_NODELAY && this.#family !== AF_UNIX) {
      this.#noDelay = v ? 1 : 0;
      this.#conn?.socket.setNoDelay(v !== 0);
      return;
    }
    throw unsupportedOption("setsockopt", level, option, this.#family);
  }

  /** SO_LINGER: on with 0 seconds, `close()` resets; off, it closes as Python's does. */
  #setLinger(value: number | Buffer): void {
    if (typeof value === "number") {
      throw new SocketError(
        `Cannot setsockopt SO_LINGER: its value is 8 bytes (struct.pack("ii", onoff, seconds)), got the number ${value}`,
        { code: "EINVAL" },
      );
    }
    const [on, seconds] = new Int32Array(new Uint8Array(value).buffer) as unknown as [
      number,
      number,
    ];
    if (on !== 0 && seconds !== 0) {
      throw new UnsupportedError(
        `Cannot setsockopt SO_LINGER with ${seconds} seconds on a node:net stream: only 0 (close() resets the connection) or off; close() already sends what is queued in the background`,
      );
    }
    this.#resetOnClose = on !== 0;
  }

  getsockopt(level: number, option: number): number {
    if (level === SOL_SOCKET && option === SO_LINGER) {
      return this.#resetOnClose ? 1 : 0;
    }
    if (level === SOL_SOCKET) {
      switch (option) {
        case SO_REUSEADDR:
          // libuv sets SO_REUSEADDR on every TCP listening socket.
          return this.#listener && this.#family !== AF_UNIX ? 1 : this.#reuseAddr;
        case SO_REUSEPORT:
          return this.#reusePort;
        case SO_KEEPALIVE:
          return this.#keepAlive;
        case SO_RCVBUF:
          return this.#highWaterMark;
        case SO_SNDBUF:
          return this.#sendBufferSize;
      }
    } else if (level === IPPROTO_TCP && option === TCP_NODELAY && this.#family !== AF_UNIX) {
      return this.#noDelay;
    }
    throw unsupportedOption("getsockopt", level, option, this.#family);
  }

  getsockname(): SocketAddress {
    if (this.#listener) {
      const a = this.#listener.server.address();
      if (typeof a === "string") return a;
      if (a) return toSocketAddress(this.#family, a.address, a.port);
    }
    if (this.#conn) {
      if (this.#family === AF_UNIX) return this.#unixLocal;
      const s = this.#conn.socket;
      return toSocketAddress(this.#family, s.localAddress ?? "", s.localPort ?? 0);
    }
    if (this.#family === AF_UNIX) return "";
    return this.#family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
  }

  getpeername(): SocketAddress {
    if (this.#conn) {
      if (this.#family === AF_UNIX) return this.#unixPeer;
      const s = this.#conn.socket;
      if (s.remoteAddress !== undefined) {
        return toSocketAddress(this.#family, s.remoteAddress, s.remotePort ?? 0);
      }
      return toSocketAddress(this.#family, ...labelToHostPort(this.#conn.peerLabel));
    }
    throw badState("Cannot getpeername: socket is not connected", "ENOTCONN");
  }

  // ---------------------------------------------------------------- duplicates

  async dup(): Promise<SocketBackend> {
    const fd = this.dupFd("dup");
    if (this.#conn !== null) {
      const ns =
        this.#streams()?.socketOn(fd) ??
        new NetSocket({ fd, readable: true, writable: true, allowHalfOpen: true });
      const conn = new StreamConnection(ns, this.#conn.peerLabel, {
        highWaterMark: this.#highWaterMark,
        paused: true,
      });
      return NetStreamBackend.#adopting(
        this.#family,
        this.#options,
        conn,
        this.#inherited,
        this.#unixLocal,
      );
    }
    const copy = new NetStreamBackend(this.#family, this.#options);
    copy.#listener = await Listener.open(
      { fd, backlog: 511 },
      (this.#listener as Listener).label,
      undefined,
      null,
      this.#serverMaker(undefined),
    );
    copy.#listening = true;
    return copy;
  }

  dupFd(action: string): number {
    if (this.#conn === null && this.#listener === null) {
      throw new UnsupportedError(
        `Cannot ${action}: only a connected or listening stream socket can be duplicated here`,
      );
    }
    const calls = nativeCalls();
    if (calls === null) {
      throw new UnsupportedError(
        `Cannot ${action}: Node.js cannot duplicate a descriptor; the socketkit native addon can (${nativeMissing()})`,
      );
    }
    const fd = this.fileno();
    if (fd < 0) {
      throw new UnsupportedError(
        `Cannot ${action}: this socket has no descriptor of its own (TLS?)`,
      );
    }
    try {
      return calls.dup(fd);
    } catch (err) {
      throw toSocketError(err, action);
    }
  }
}

/** The `UnsupportedError` of an option a node:net or node:dgram socket does not have. */
export function unsupportedOption(
  call: "setsockopt" | "getsockopt",
  level: number,
  option: number,
  family: number,
  type = SOCK_STREAM,
): UnsupportedError {
  return new UnsupportedError(
    `Cannot ${call} level ${level} option ${option} on ${familyName(family)} ${kindName(type)}: not supported${call === "setsockopt" ? " (SO_REUSEADDR, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, TCP_NODELAY are)" : ""}`,
  );
}

function labelToHostPort(label: string): [string, number] {
  const i = label.lastIndexOf(":");
  const host = label.slice(0, i).replace(/^\[|\]$/g, "");
  return [host, Number(label.slice(i + 1))];
}
