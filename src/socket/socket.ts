import { randomBytes } from "node:crypto";
import { fstat, read } from "node:fs";
import { type FileHandle, open as openFile } from "node:fs/promises";
import { Socket as NetSocket } from "node:net";
import {
  type ConnectionOptions,
  type TLSSocket,
  type TlsOptions,
  connect as tlsConnect,
} from "node:tls";
import { promisify } from "node:util";
import {
  type Address,
  checkUnixAddress,
  formatAddress,
  ipVersion,
  type SocketAddress,
  toSocketAddress,
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
  SO_KEEPALIVE,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../core/constants.ts";
import {
  BlockingIOError,
  GaiError,
  SocketError,
  toSocketError,
  UnsupportedError,
} from "../core/errors.ts";
import { hasNative, native, nativeMissingReason } from "../native/index.ts";
import { reusePortListener } from "../native/reuse-port.ts";
import { BufferedReader, type BufferedReaderOptions } from "./buffered-reader.ts";
import { BufferedRWPair } from "./buffered-rw-pair.ts";
import { bulkWriter } from "./bulk.ts";
import { DatagramEndpoint } from "./datagram-endpoint.ts";
import { deadlineFrom, remaining } from "./deadline.ts";
import { getdefaulttimeout } from "./default-timeout.ts";
import { resolveAddress } from "./getaddrinfo.ts";
import {
  kAdopt,
  kBindServer,
  kCloseNow,
  kConnectFrom,
  kConnectTls,
  kFileClosed,
  kNativeBacked,
  kReadiness,
  kStream,
  kTakeDatagram,
  kTimeoutMs,
} from "./internal.ts";
import { type Admit, Listener } from "./listener.ts";
import { type Readiness, readinessOf } from "./readiness.ts";
import { DEFAULT_HIGH_WATER_MARK, type DirectRead, StreamConnection } from "./stream-connection.ts";
import { timeoutError } from "./waiters.ts";
import { Writer } from "./writer.ts";

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
  /** @internal Set by the native socket class for its own construction. */
  [kNativeBacked]?: boolean;
}

type NativeFactory = (
  family: number,
  type: number,
  proto: number,
  options: SocketOptions,
) => Socket;
let nativeNeeded: ((family: number, type: number, proto: number) => boolean) | null = null;
let nativeFactory: NativeFactory | null = null;

/**
 * @internal Registers the class behind the socket types Node.js lacks (`socket/native-socket.ts`
 * does, when it is loaded): `new Socket(...)` and `socket(...)` hand such types to it.
 */
export function setNativeFactory(
  needed: (family: number, type: number, proto: number) => boolean,
  create: NativeFactory,
): void {
  nativeNeeded = needed;
  nativeFactory = create;
}

/** Options for binding a listening socket (used by `createServer`). */
export interface BindServerOptions {
  ipv6Only?: boolean;
  reusePort?: boolean;
  backlog?: number;
  /** Serve TLS: accepted connections are TLS sockets, handed over after the handshake. */
  tls?: TlsOptions;
  /** Checks each peer as it connects, before its TLS handshake: see `createServer`. */
  admit?: (peer: SocketAddress) => boolean;
  /**
   * Datagram sockets in a node:cluster worker: bind the primary's socket for the address,
   * shared by every worker that binds it, instead of one of the worker's own.
   */
  shared?: boolean;
}

const EMPTY = Buffer.alloc(0);

function badState(message: string, code: string): SocketError {
  return new SocketError(message, { code });
}

function toBuffer(data: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function checkSize(bufsize: number, action: string): void {
  if (!Number.isInteger(bufsize) || bufsize < 0) {
    throw new SocketError(
      `Cannot ${action}: buffer size must be a non-negative integer, got ${bufsize}`,
      {
        code: "EINVAL",
      },
    );
  }
}

const fsFstat = promisify(fstat);
const fsRead = promisify(read);

/** The byte count of a `recv_into`: `nbytes`, or all of `buffer` for 0 (Python's rules). */
function intoSize(buffer: Uint8Array, nbytes: number, action: string): number {
  if (!(buffer instanceof Uint8Array)) {
    throw new SocketError(`Cannot ${action}: a Buffer or Uint8Array is needed`, { code: "EINVAL" });
  }
  checkSize(nbytes, action);
  if (nbytes > buffer.byteLength) {
    throw new SocketError(
      `Cannot ${action}: buffer too small for requested bytes (${buffer.byteLength} < ${nbytes})`,
      { code: "EINVAL" },
    );
  }
  return nbytes === 0 ? buffer.byteLength : nbytes;
}

/** Whether this Node.js can set SO_REUSEPORT on its own (22.12+ or 23.1+). */
function nodeHasReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
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
  #highWaterMark: number;
  #sendBufferSize = DEFAULT_HIGH_WATER_MARK;
  #options: SocketOptions;
  #reuseAddr = 0;
  #reusePort = 0;
  /** Files made by makefile and not closed yet (Python's `_io_refs`). */
  #files = new Set<object>();
  /** close() was called while files were open: closed when the last one closes. */
  #closeWanted = false;
  /**
   * A UDP socket given SO_REUSEPORT before bind: Node's datagram sockets cannot take it,
   * so a native one (from the addon) carries this socket from then on.
   */
  #delegate: Socket | null = null;
  /** A bound datagram socket's "receive on ADDRESS", made on the first wait. */
  #receiveLabel: string | null = null;
  #keepAlive = 0;
  #noDelay = 0;
  #recvBuf = 0;
  #sendBuf = 0;
  #conn: StreamConnection | null = null;
  #listener: Listener | null = null;
  #dgram: DatagramEndpoint | null = null;
  #listening = false;
  #connecting: Promise<void> | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** False after `unref()`: what the socket holds does not keep the process alive. */
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

  constructor(family = AF_INET, type = SOCK_STREAM, proto = 0, options: SocketOptions = {}) {
    this.family = family;
    this.type = type;
    this.proto = proto;
    this.#options = options;
    this.#highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    if (options[kNativeBacked]) return;
    if (nativeFactory !== null && nativeNeeded?.(family, type, proto)) {
      // biome-ignore lint/correctness/noConstructorReturn: the types Node lacks are another class
      return nativeFactory(family, type, proto, options);
    }
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
  }

  // ---------------------------------------------------------------- helpers

  #timeoutMs(deadline: number | null): number | null {
    return this.#timeout === 0 ? 0 : remaining(deadline);
  }

  #ensureOpen(action: string): void {
    if (this.#closed) throw badState(`Cannot ${action}: socket is closed`, "EBADF");
  }

  async #stream(action: string): Promise<StreamConnection> {
    this.#ensureOpen(action);
    if (this.#connecting) await this.#connecting;
    if (this.#conn === null) {
      throw badState(`Cannot ${action}: socket is not connected`, "ENOTCONN");
    }
    return this.#conn;
  }

  #datagram(): DatagramEndpoint {
    if (this.#dgram === null) {
      this.#dgram = new DatagramEndpoint(this.family === AF_INET6 ? "udp6" : "udp4", {
        reuseAddr: this.#reuseAddr !== 0,
        maxQueuedDatagrams: this.#options.maxQueuedDatagrams,
        maxQueuedBytes: this.#options.maxQueuedBytes,
      });
      if (!this.#ref) this.#dgram.setRef(false);
    }
    return this.#dgram;
  }

  #label(address: Address): string {
    return formatAddress(address);
  }

  #resolve(address: Address, action: string): Promise<{ host: string; port: number }> {
    return resolveAddress(this.family, address, action);
  }

  #applyStreamOptions(conn: StreamConnection): void {
    if (!this.#ref) conn.setRef(false);
    if (this.#keepAlive) conn.socket.setKeepAlive(true);
    if (this.#noDelay) conn.socket.setNoDelay(true);
    conn.sendBufferSize = this.#sendBufferSize;
  }

  #applyDatagramBuffers(): void {
    const d = this.#dgram;
    if (d === null || !d.bound) return;
    try {
      if (this.#recvBuf) d.socket.setRecvBufferSize(this.#recvBuf);
      if (this.#sendBuf) d.socket.setSendBufferSize(this.#sendBuf);
    } catch (err) {
      throw toSocketError(err, "set buffer size");
    }
  }

  /** @internal Adopts an accepted connection. */
  [kAdopt](conn: StreamConnection, unixLocal: string): this {
    this.#conn = conn;
    this.#unixLocal = unixLocal;
    this.#applyStreamOptions(conn);
    conn.start();
    return this;
  }

  /** @internal Connect from this local address, without binding (and listening) first. */
  async [kConnectFrom](address: [string, number]): Promise<void> {
    const { host, port } = await this.#resolve(address, "bind");
    this.#source = { localAddress: host, localPort: port };
  }

  /** @internal Run TLS over the connection `connect()` makes. */
  [kConnectTls](options: ConnectionOptions, fingerprint256?: string): void {
    this.#tls = options;
    this.#pin = fingerprint256?.toUpperCase() ?? null;
  }

  /** @internal The connection under a connected stream socket (for makefile). */
  [kStream](): StreamConnection {
    this.#ensureOpen("read");
    if (this.#conn === null) throw badState("Cannot read: socket is not connected", "ENOTCONN");
    return this.#conn;
  }

  /** @internal Milliseconds for one blocking step, from the socket timeout. */
  [kTimeoutMs](deadline: number | null): number | null {
    return this.#timeoutMs(deadline);
  }

  /** @internal A deadline for an operation starting now. */
  deadline(): number | null {
    return deadlineFrom(this.#timeout);
  }

  /** @internal What `socketkit/select` asks of this socket (see readiness.ts). */
  [kReadiness](): Readiness {
    if (this.#delegate) return this.#delegate[kReadiness]();
    const backend = this.#conn ?? (this.#listening ? this.#listener : null) ?? this.#dgram;
    return readinessOf(this.type, this.#closed, this.#connecting, backend);
  }

  // ---------------------------------------------------------------- binding

  /**
   * Binds to a local address: `["", 0]` is every interface and a free port (read it back
   * with `getsockname()`), a path for AF_UNIX. Stream sockets start listening at once
   * (Node binds and listens together): connections made before `listen()` wait for
   * `accept()` as the kernel's queue would hold them.
   */
  async bind(address: Address): Promise<void> {
    if (this.#delegate) return this.#delegate.bind(address);
    return this[kBindServer](address, {});
  }

  /** @internal `bind` with the options `createServer` needs. */
  async [kBindServer](address: Address, options: BindServerOptions): Promise<void> {
    this.#ensureOpen("bind");
    if (this.#listener || this.#conn || this.#dgram?.bound) {
      throw badState(`Cannot bind ${this.#label(address)}: socket is already bound`, "EINVAL");
    }
    if (this.type === SOCK_DGRAM) {
      const { host, port } = await this.#resolve(address, "bind");
      await this.#datagram().bind(host, port, `bind ${this.#label(address)}`, options.shared);
      this.#applyDatagramBuffers();
      return;
    }
    const reusePort = options.reusePort || this.#reusePort === 1;
    if (reusePort) this.#reusePort = 1;
    if (reusePort && !nodeHasReusePort() && !hasNative()) {
      throw new UnsupportedError(
        `Cannot bind ${this.#label(address)} with SO_REUSEPORT: needs Node.js >= 22.12 (this is ${process.version}) or the socketkit native addon (${nativeMissingReason()}; run \`npm run build:native\`)`,
      );
    }
    const backlog = options.backlog ?? 511;
    if (this.family === AF_UNIX) {
      if (address === "") {
        this.#listener = await this.#autobind(backlog, options);
        return;
      }
      const path = checkUnixAddress(address, "bind");
      this.#listener = await Listener.open(
        { path, backlog },
        this.#label(path),
        options.tls,
        this.#admitOf(options.admit),
      );
      if (!this.#ref) this.#listener.setRef(false);
      return;
    }
    const { host, port } = await this.#resolve(address, "bind");
    const label = formatAddress([host, port]);
    let listenOptions: Parameters<typeof Listener.open>[0] & { reusePort?: boolean } = {
      host,
      port,
      backlog,
      ipv6Only: options.ipv6Only ?? false,
    };
    if (reusePort && nodeHasReusePort()) listenOptions.reusePort = true;
    else if (reusePort) {
      // This Node.js cannot set SO_REUSEPORT: the addon makes the listening socket.
      const fd = reusePortListener(
        this.family,
        host,
        port,
        backlog,
        options.ipv6Only ?? false,
        label,
      );
      // exclusive: in a cluster worker, this socket is the worker's own (not the primary's).
      listenOptions = { fd, backlog, exclusive: true } as typeof listenOptions;
    }
    this.#listener = await Listener.open(
      listenOptions,
      label,
      options.tls,
      this.#admitOf(options.admit),
    );
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
  async #autobind(backlog: number, options: BindServerOptions): Promise<Listener> {
    for (let tries = 0; ; tries++) {
      const path = `\0${randomBytes(3).toString("hex").slice(0, 5)}`;
      try {
        return await Listener.open(
          { path, backlog },
          this.#label(path),
          options.tls,
          this.#admitOf(options.admit),
        );
      } catch (err) {
        if (!(err instanceof SocketError) || err.code !== "EADDRINUSE" || tries >= 100) throw err;
      }
    }
  }

  /**
   * Marks a bound stream socket as accepting connections. `backlog` bounds how many
   * connections wait for `accept()` (at least 511, as Node's own listen backlog);
   * more are closed at once and counted in `droppedConnections`.
   */
  listen(backlog?: number): void {
    this.#ensureOpen("listen");
    if (this.type !== SOCK_STREAM) {
      throw badState("Cannot listen: only stream sockets listen", "EOPNOTSUPP");
    }
    if (this.#listener === null) {
      throw badState("Cannot listen: bind() the socket to an address first", "EINVAL");
    }
    if (backlog !== undefined) this.#listener.queueLimit = Math.max(backlog, 511);
    this.#listening = true;
  }

  /**
   * Waits for a connection and returns `[socket, address]`, as Python's `accept()`.
   * Honors the timeout (`TimeoutError`) and non-blocking mode (`BlockingIOError`).
   */
  async accept(): Promise<[Socket, SocketAddress]> {
    this.#ensureOpen("accept");
    const listener = this.#listener;
    if (listener === null || !this.#listening) {
      throw badState("Cannot accept: socket is not listening (call bind() and listen())", "EINVAL");
    }
    const deadline = deadlineFrom(this.#timeout);
    for (;;) {
      const ns = listener.take();
      if (ns !== undefined) return this.#adoptAccepted(ns, listener);
      const err = listener.takeError("accept on");
      if (err) throw err;
      if (listener.closed || this.#closed) {
        throw badState(`Cannot accept on ${listener.label}: socket is closed`, "EBADF");
      }
      await listener.acceptors.wait(this.#timeoutMs(deadline), `accept on ${listener.label}`);
    }
  }

  /** `admit`, asked about a connection's peer address (`""` for a Unix socket's peer). */
  #admitOf(admit: ((peer: SocketAddress) => boolean) | undefined): Admit | null {
    if (admit === undefined) return null;
    return (ns) =>
      admit(
        this.family === AF_UNIX
          ? ""
          : toSocketAddress(this.family, ns.remoteAddress ?? "", ns.remotePort ?? 0),
      );
  }

  #adoptAccepted(ns: NetSocket, listener: Listener): [Socket, SocketAddress] {
    let address: SocketAddress;
    let peer: string;
    if (this.family === AF_UNIX) {
      address = "";
      peer = `peer of ${listener.label}`;
    } else {
      address = toSocketAddress(this.family, ns.remoteAddress ?? "", ns.remotePort ?? 0);
      peer = formatAddress(address);
    }
    const conn = new StreamConnection(ns, peer, {
      highWaterMark: this.#highWaterMark,
      paused: true,
    });
    const child = new Socket(this.family, this.type, this.proto, this.#options);
    child.#keepAlive = this.#keepAlive;
    child.#noDelay = this.#noDelay;
    child.#sendBufferSize = this.#sendBufferSize;
    return [child[kAdopt](conn, this.family === AF_UNIX ? listener.label : ""), address];
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
      const { host, port } = await this.#resolve(address, "connect to");
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
    if (this.#delegate) return this.#delegate.connect(address);
    const label = this.#label(address);
    this.#ensureOpen(`connect to ${label}`);
    if (this.type === SOCK_DGRAM) {
      const { host, port } = await this.#resolve(address, "connect to");
      const d = this.#datagram();
      await d.connect(host, port, `connect to ${label}`);
      this.#applyDatagramBuffers();
      return;
    }
    if (this.#conn || this.#connecting) {
      throw badState(`Cannot connect to ${label}: socket is already connected`, "EISCONN");
    }
    const pending = this.#connectStream(address, label);
    if (this.#timeout === 0) {
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

  async #connectStream(address: Address, label: string): Promise<void> {
    const action = `connect to ${label}`;
    const deadline = deadlineFrom(this.#timeout === 0 ? null : this.#timeout);
    let target: { path: string } | { host: string; port: number; family: number };
    if (this.family === AF_UNIX) {
      target = { path: checkUnixAddress(address, "connect") };
    } else {
      const { host, port } = await this.#resolve(address, "connect to");
      target = { host, port, family: this.family === AF_INET6 ? 6 : 4 };
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
        ? new NetSocket({ allowHalfOpen: true })
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
    if (this.family === AF_UNIX) this.#unixPeer = (target as { path: string }).path;
    this.#conn = conn;
    this.#applyStreamOptions(conn);
  }

  // ---------------------------------------------------------------- sending

  /**
   * Sends some bytes and returns how many were taken (at most `SO_SNDBUF`, 64 KiB by
   * default); waits while that much is already queued. Use `sendall` to send everything.
   * The Buffer is kept by reference until written: do not change it afterwards.
   */
  async send(data: Buffer | Uint8Array | string): Promise<number> {
    if (this.#delegate) return this.#delegate.send(data);
    const buf = toBuffer(data);
    if (this.type === SOCK_DGRAM) {
      this.#ensureOpen("send");
      const d = this.#dgram;
      if (d === null || !d.connected) {
        throw badState(
          "Cannot send: datagram socket has no destination (use sendto or connect)",
          "EDESTADDRREQ",
        );
      }
      return d.send(buf, undefined, undefined, "send");
    }
    const conn = await this.#stream("send");
    return conn.send(buf, this.#timeoutMs(deadlineFrom(this.#timeout)));
  }

  /**
   * Sends every byte; resolves once all are handed to the kernel (so memory stays bounded
   * by what you pass), or throws `TimeoutError` when the timeout runs out first.
   */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    const conn = this.#conn;
    // Hot path: a connected stream socket goes straight to its connection.
    if (conn !== null && !this.#closed && this.#connecting === null) {
      const bytes = typeof data === "string" ? data : toBuffer(data);
      return conn.sendall(bytes, this.#timeoutMs(deadlineFrom(this.#timeout)));
    }
    return this.#sendallSlow(data);
  }

  async #sendallSlow(data: Buffer | Uint8Array | string): Promise<void> {
    if (this.#delegate) return this.#delegate.sendall(data);
    if (this.type === SOCK_DGRAM) {
      await this.send(data);
      return;
    }
    const conn = await this.#stream("send");
    const bytes = typeof data === "string" ? data : toBuffer(data);
    await conn.sendall(bytes, this.#timeoutMs(deadlineFrom(this.#timeout)));
  }

  /** Sends one datagram to `address`; returns its length. Datagram sockets only. */
  sendto(data: Buffer | Uint8Array | string, address: Address): Promise<number> {
    if (this.#delegate) return this.#delegate.sendto(data, address);
    // Hot path (a server replying): a bound, open, unconnected datagram socket and an IP
    // literal of its family, sent at once without resolving or building labels.
    const d = this.#dgram;
    if (d?.bound && !d.connected && !this.#closed && Array.isArray(address)) {
      const [host, port] = address as unknown[];
      if (
        (typeof data === "string" || data instanceof Uint8Array) &&
        typeof host === "string" &&
        typeof port === "number" &&
        Number.isInteger(port) &&
        port >= 0 &&
        port <= 65535 &&
        ipVersion(host) === (this.family === AF_INET6 ? 6 : 4)
      ) {
        return d.send(toBuffer(data), host, port);
      }
    }
    return this.#sendtoChecked(data, address);
  }

  async #sendtoChecked(data: Buffer | Uint8Array | string, address: Address): Promise<number> {
    const label = this.#label(address);
    this.#ensureOpen(`send to ${label}`);
    if (this.type !== SOCK_DGRAM) {
      throw badState(
        `Cannot send to ${label}: sendto needs a datagram socket (use sendall)`,
        "EISCONN",
      );
    }
    const { host, port } = await this.#resolve(address, "send to");
    const d = this.#datagram();
    if (d.connected) {
      // Linux sends to any address; Node.js's connected datagram socket only to its peer.
      const peer = this.getpeername() as [string, number];
      if (peer[0] === host && peer[1] === port) return this.send(data);
      throw badState(
        `Cannot send to ${label}: the socket is connected to ${formatAddress(peer)}, and Node.js sends a connected datagram socket's datagrams only there (use an unconnected socket)`,
        "EISCONN",
      );
    }
    const n = await d.send(toBuffer(data), host, port, `send to ${label}`);
    this.#applyDatagramBuffers();
    return n;
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Receives at most `bufsize` bytes, as soon as any are available; an empty Buffer means
   * the peer closed its side (end of stream). For datagram sockets: one datagram, cut to
   * `bufsize` as Python does.
   */
  recv(bufsize: number): Promise<Buffer> {
    const conn = this.#conn;
    // Hot path: a connected stream socket without a timeout, and a valid size.
    if (
      conn === null ||
      this.#closed ||
      this.#connecting !== null ||
      this.#timeout !== null ||
      !Number.isInteger(bufsize) ||
      bufsize <= 0
    ) {
      return this.#recvSlow(bufsize);
    }
    if (conn.queue.length > 0) {
      const out = conn.queue.take(bufsize);
      conn.consumed();
      return Promise.resolve(out);
    }
    if (conn.eof || conn.readShut || conn.failed || conn.closed) return this.#recvSlow(bufsize);
    this.#recvFallback ??= (read) => this.#recvSlow(read.size);
    return conn.readDirect(bufsize, null, 0, null, this.#recvFallback) ?? this.#recvSlow(bufsize);
  }

  /** The general `recv`, for a direct read that something other than data woke. */
  #recvFallback: ((read: DirectRead) => Promise<Buffer>) | null = null;

  async #recvSlow(bufsize: number): Promise<Buffer> {
    if (this.#delegate) return this.#delegate.recv(bufsize);
    checkSize(bufsize, "receive");
    if (this.type === SOCK_DGRAM) return (await this.recvfrom(bufsize))[0];
    const conn = this.#conn !== null && !this.#closed ? this.#conn : await this.#stream("receive");
    if (bufsize === 0 || !(await this.#dataIn(conn))) return EMPTY;
    const out = conn.queue.take(bufsize);
    conn.consumed();
    return out;
  }

  /**
   * Waits, with the timeout, until `conn` holds bytes to read (true) or its stream has
   * ended (false); throws when it failed or the socket was closed.
   */
  async #dataIn(conn: StreamConnection): Promise<boolean> {
    const deadline = deadlineFrom(this.#timeout);
    for (;;) {
      if (conn.queue.length > 0) return true;
      if (conn.eof || conn.readShut) return false;
      conn.checkOpen("receive from");
      if (this.#closed) {
        throw badState(`Cannot receive from ${conn.peerLabel}: socket is closed`, "EBADF");
      }
      await conn.readers.wait(this.#timeoutMs(deadline), `receive from ${conn.peerLabel}`);
    }
  }

  /**
   * Receives at most `nbytes` bytes (all of `buffer` when 0) into `buffer`, as soon as any
   * are available, and returns how many: 0 means the peer closed its side. The bytes are
   * copied once, from the socket's buffer into yours. Datagram sockets: one datagram, cut
   * to fit, as Python does.
   */
  async recv_into(buffer: Uint8Array, nbytes = 0): Promise<number> {
    const n = intoSize(buffer, nbytes, "recv_into");
    if (this.#delegate || this.type !== SOCK_STREAM) {
      const [data] = await this.recvfrom(n);
      buffer.set(data);
      return data.length;
    }
    if (n === 0) return 0;
    const conn = this.#conn !== null && !this.#closed ? this.#conn : await this.#stream("receive");
    if (!(await this.#dataIn(conn))) return 0;
    const got = conn.queue.takeInto(buffer, 0, n);
    conn.consumed();
    return got;
  }

  /**
   * Sends a file's bytes, from `offset`, `count` of them or up to its end, and returns how
   * many were sent (Python's `sendfile`). `file` is a path, a descriptor or a `FileHandle`
   * of `node:fs/promises`. With the native addon and no timeout, the kernel copies them
   * (sendfile(2), zero-copy, on the thread pool); otherwise they are read and sent in
   * 64 KiB pieces, with the socket's timeout. Stream sockets only.
   */
  async sendfile(file: string | number | FileHandle, offset = 0, count?: number): Promise<number> {
    if (this.type !== SOCK_STREAM || this.#delegate) {
      throw badState("Cannot sendfile: only SOCK_STREAM sockets are supported", "EINVAL");
    }
    checkSize(offset, "sendfile");
    if (count !== undefined) checkSize(count, "sendfile");
    if (this.#timeout === 0) {
      throw badState("Cannot sendfile: non-blocking sockets are not supported", "EINVAL");
    }
    const conn = await this.#stream("send");
    const owned = typeof file === "string" ? await openFile(file, "r") : null;
    try {
      const handle = owned ?? file;
      const fd = typeof handle === "number" ? handle : (handle as FileHandle).fd;
      const { size } = await fsFstat(fd);
      const total = Math.max(0, Math.min(count ?? size - offset, size - offset));
      if (total === 0) return 0;
      const writer = this.#timeout === null ? await bulkWriter(this) : null;
      if (writer !== null) return await writer.sendFile(fd, offset, total);
      let sent = 0;
      while (sent < total) {
        // A new piece each time: the one before may still wait in the send queue.
        const piece = Buffer.allocUnsafe(Math.min(total - sent, 64 * 1024));
        const { bytesRead } = await fsRead(fd, piece, 0, piece.length, offset + sent);
        if (bytesRead === 0) break;
        await conn.sendall(
          piece.subarray(0, bytesRead),
          this.#timeoutMs(deadlineFrom(this.#timeout)),
        );
        sent += bytesRead;
      }
      return sent;
    } catch (err) {
      throw toSocketError(err, `sendfile to ${conn.peerLabel}`);
    } finally {
      await owned?.close();
    }
  }

  /**
   * {@link Socket.recv_into} that also returns who sent the bytes: `[nbytes, address]`.
   */
  async recvfrom_into(buffer: Uint8Array, nbytes = 0): Promise<[number, SocketAddress]> {
    const n = intoSize(buffer, nbytes, "recvfrom_into");
    if (this.type === SOCK_STREAM && !this.#delegate) {
      return [await this.recv_into(buffer, n), this.getpeername()];
    }
    const [data, from] = await this.recvfrom(n);
    buffer.set(data);
    return [data.length, from];
  }

  /**
   * @internal A datagram already received, without waiting (for servers that read in a
   * loop); undefined when none is queued or the socket is not a plain UDP socket.
   */
  [kTakeDatagram](bufsize: number): [Buffer, SocketAddress] | undefined {
    const d = this.#dgram;
    if (d === null || this.#delegate || this.#closed) return undefined;
    const dg = d.take();
    if (dg === undefined) return undefined;
    const data = dg.data.length > bufsize ? dg.data.subarray(0, bufsize) : dg.data;
    return [data, toSocketAddress(this.family, dg.from.address, dg.from.port)];
  }

  /**
   * Receives one datagram (at most `bufsize` bytes of it) and who sent it. On a stream
   * socket, returns `recv(bufsize)` and the peer's address.
   */
  async recvfrom(bufsize: number): Promise<[Buffer, SocketAddress]> {
    if (this.#delegate) return this.#delegate.recvfrom(bufsize);
    checkSize(bufsize, "receive");
    if (this.type === SOCK_STREAM) return [await this.recv(bufsize), this.getpeername()];
    this.#ensureOpen("receive");
    const d = this.#datagram();
    const deadline = deadlineFrom(this.#timeout);
    for (;;) {
      const got = this[kTakeDatagram](bufsize);
      if (got !== undefined) return got;
      const err = d.takeError("receive");
      if (err) throw err;
      if (d.closed || this.#closed) throw badState("Cannot receive: socket is closed", "EBADF");
      // Not bound yet: it waits as Linux does, until its timeout, or until a sendto binds
      // it and a datagram comes.
      await d.readers.wait(this.#timeoutMs(deadline), this.#receiveAction(d));
    }
  }

  /**
   * What a datagram receive waits for, as its timeout names it (made once: getsockname is
   * a system call).
   */
  #receiveAction(d: DatagramEndpoint): string {
    if (!d.bound) return "receive on an unbound datagram socket";
    this.#receiveLabel ??= `receive on ${formatAddress(this.getsockname())}`;
    return this.#receiveLabel;
  }

  // ---------------------------------------------------------------- closing

  /**
   * Shuts down one or both directions: `SHUT_WR` sends FIN after what is queued (the
   * socket can still receive), `SHUT_RD` makes `recv` return end of stream, `SHUT_RDWR`
   * both.
   */
  shutdown(how: number): void {
    if (this.#delegate) {
      this.#delegate.shutdown(how);
      return;
    }
    this.#ensureOpen("shutdown");
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) {
      throw badState(
        `Cannot shutdown: how must be SHUT_RD, SHUT_WR or SHUT_RDWR, got ${how}`,
        "EINVAL",
      );
    }
    const conn = this.#conn;
    if (conn === null) throw badState("Cannot shutdown: socket is not connected", "ENOTCONN");
    if (how !== SHUT_WR) conn.shutdownRead();
    if (how !== SHUT_RD) conn.shutdownWrite();
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
    if (this.#delegate) {
      this.#closed = true;
      return this.#delegate.close();
    }
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const parts: Promise<void>[] = [];
    if (this.#conn) parts.push(this.#conn.close());
    if (this.#listener) parts.push(this.#listener.close());
    if (this.#dgram) parts.push(this.#dgram.close());
    this.#closing = Promise.all(parts).then(() => undefined);
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
   * its listening or datagram socket). Sockets of the native addon (Unix datagram,
   * SOCK_SEQPACKET, raw, UDP with SO_REUSEPORT) cannot: `UnsupportedError`. Python has
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
    this.#setRef(false);
    return this;
  }

  /** Undoes {@link unref}: the socket keeps the process alive again (the default). */
  ref(): this {
    this.#setRef(true);
    return this;
  }

  #setRef(ref: boolean): void {
    if (this.#delegate) {
      if (ref) this.#delegate.ref();
      else this.#delegate.unref();
    }
    this.#ref = ref;
    this.#conn?.setRef(ref);
    this.#listener?.setRef(ref);
    this.#dgram?.setRef(ref);
  }

  // ---------------------------------------------------------------- timeouts & options

  /**
   * Sets the timeout, in seconds, of connect, accept, recv, recvfrom, send and sendall:
   * `null` blocks forever, `0` is non-blocking (`BlockingIOError` when nothing is ready),
   * anything else raises `TimeoutError` when it runs out.
   */
  settimeout(value: number | null): void {
    this.#delegate?.settimeout(value);
    if (value !== null && (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value))) {
      throw new SocketError(
        `Cannot set timeout: ${value} is out of range (use null or seconds >= 0)`,
        {
          code: "EINVAL",
        },
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
   * Sets an option: `SO_REUSEADDR`, `SO_KEEPALIVE`, `SO_RCVBUF`, `SO_SNDBUF` (level
   * `SOL_SOCKET`) or `TCP_NODELAY` (level `IPPROTO_TCP`); others raise `UnsupportedError`.
   * On stream sockets `SO_RCVBUF` and `SO_SNDBUF` set socketkit's own receive and send
   * buffer limits (the kernel's are auto-tuned); on datagram sockets, the kernel's.
   */
  setsockopt(level: number, option: number, value: number | boolean): void {
    this.#ensureOpen("setsockopt");
    const v = typeof value === "boolean" ? Number(value) : value;
    if (!Number.isInteger(v) || v < 0) {
      throw new SocketError(
        `Cannot setsockopt: value must be a non-negative integer, got ${value}`,
        {
          code: "EINVAL",
        },
      );
    }
    if (this.#delegate) {
      this.#delegate.setsockopt(level, option, value);
      return;
    }
    const key = optionKey(level, option);
    switch (key) {
      case "SO_REUSEADDR":
        this.#reuseAddr = v ? 1 : 0;
        return;
      case "SO_REUSEPORT":
        if (this.family === AF_UNIX) break;
        if (this.type === SOCK_DGRAM) {
          this.#reusePortDatagram(level, option, v);
          return;
        }
        this.#reusePort = v ? 1 : 0;
        return;
      case "SO_KEEPALIVE":
        this.#keepAlive = v ? 1 : 0;
        this.#conn?.socket.setKeepAlive(v !== 0);
        return;
      case "TCP_NODELAY":
        if (this.type !== SOCK_STREAM || this.family === AF_UNIX) break;
        this.#noDelay = v ? 1 : 0;
        this.#conn?.socket.setNoDelay(v !== 0);
        return;
      case "SO_RCVBUF":
        if (this.type === SOCK_STREAM) {
          this.#highWaterMark = Math.max(1, v);
          if (this.#conn) this.#conn.highWaterMark = this.#highWaterMark;
        } else {
          this.#recvBuf = v;
          this.#applyDatagramBuffers();
        }
        return;
      case "SO_SNDBUF":
        if (this.type === SOCK_STREAM) {
          this.#sendBufferSize = Math.max(1, v);
          if (this.#conn) this.#conn.sendBufferSize = this.#sendBufferSize;
        } else {
          this.#sendBuf = v;
          this.#applyDatagramBuffers();
        }
        return;
    }
    throw new UnsupportedError(
      `Cannot setsockopt level ${level} option ${option} on ${familyName(this.family)} ${kindName(this.type)}: not supported (SO_REUSEADDR, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, TCP_NODELAY are)`,
    );
  }

  /** UDP with SO_REUSEPORT: hand the socket over to a native one, before it is bound. */
  #reusePortDatagram(level: number, option: number, value: number): void {
    if (this.#dgram?.bound) {
      throw badState("Cannot setsockopt SO_REUSEPORT: set it before bind()", "EINVAL");
    }
    if (nativeFactory === null || !hasNative()) {
      throw new UnsupportedError(
        `Cannot setsockopt SO_REUSEPORT on a UDP socket: Node.js cannot set it and ${nativeMissingReason() ?? "the native addon is not loaded"}; run \`npm run build:native\``,
      );
    }
    const native = nativeFactory(this.family, SOCK_DGRAM, this.proto, { [kNativeBacked]: true });
    native.setsockopt(level, option, value);
    native.settimeout(this.#timeout);
    this.#delegate = native;
  }

  /** Reads an option set with {@link setsockopt}; the same options are supported. */
  getsockopt(level: number, option: number): number {
    if (this.#delegate) return this.#delegate.getsockopt(level, option);
    this.#ensureOpen("getsockopt");
    const key = optionKey(level, option);
    const d = this.#dgram;
    switch (key) {
      case "SO_REUSEADDR":
        // libuv sets SO_REUSEADDR on every TCP listening socket.
        return this.#listener && this.family !== AF_UNIX ? 1 : this.#reuseAddr;
      case "SO_REUSEPORT":
        return this.#reusePort;
      case "SO_KEEPALIVE":
        return this.#keepAlive;
      case "TCP_NODELAY":
        if (this.type !== SOCK_STREAM || this.family === AF_UNIX) break;
        return this.#noDelay;
      case "SO_RCVBUF":
        if (this.type === SOCK_STREAM) return this.#highWaterMark;
        return d?.bound ? d.socket.getRecvBufferSize() : this.#recvBuf;
      case "SO_SNDBUF":
        if (this.type === SOCK_STREAM) return this.#sendBufferSize;
        return d?.bound ? d.socket.getSendBufferSize() : this.#sendBuf;
    }
    throw new UnsupportedError(
      `Cannot getsockopt level ${level} option ${option} on ${familyName(this.family)} ${kindName(this.type)}: not supported`,
    );
  }

  // ---------------------------------------------------------------- names

  /** This socket's own address (`["0.0.0.0", 0]` before it is bound, as in Python). */
  getsockname(): SocketAddress {
    if (this.#delegate) return this.#delegate.getsockname();
    this.#ensureOpen("getsockname");
    if (this.#listener) {
      const a = this.#listener.server.address();
      if (typeof a === "string") return a;
      if (a) return toSocketAddress(this.family, a.address, a.port);
    }
    if (this.#conn) {
      if (this.family === AF_UNIX) return this.#unixLocal;
      const s = this.#conn.socket;
      return toSocketAddress(this.family, s.localAddress ?? "", s.localPort ?? 0);
    }
    if (this.#dgram && (this.#dgram.bound || this.#dgram.connected)) {
      try {
        const a = this.#dgram.socket.address();
        return toSocketAddress(this.family, a.address, a.port);
      } catch {
        // not bound yet
      }
    }
    if (this.family === AF_UNIX) return "";
    return this.family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
  }

  /** The connected peer's address; `ENOTCONN` when not connected. */
  getpeername(): SocketAddress {
    if (this.#delegate) return this.#delegate.getpeername();
    this.#ensureOpen("getpeername");
    if (this.#conn) {
      if (this.family === AF_UNIX) return this.#unixPeer;
      const s = this.#conn.socket;
      if (s.remoteAddress !== undefined) {
        return toSocketAddress(this.family, s.remoteAddress, s.remotePort ?? 0);
      }
      return toSocketAddress(this.family, ...labelToHostPort(this.#conn.peerLabel));
    }
    if (this.#dgram?.connected) {
      const a = this.#dgram.socket.remoteAddress();
      return toSocketAddress(this.family, a.address, a.port);
    }
    throw badState("Cannot getpeername: socket is not connected", "ENOTCONN");
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
    if (this.#closed) return -1;
    return (this.#conn ?? this.#listener ?? this.#dgram)?.fileno() ?? -1;
  }

  /**
   * A new socket for the same connection (or listening socket), on a duplicate of its
   * descriptor, as Python's `dup()`: both read and write the one kernel socket, and each
   * is closed on its own. Connected or listening stream sockets, with the native addon.
   */
  async dup(): Promise<Socket> {
    this.#ensureOpen("dup");
    const fd = this.#dupFd("dup");
    const copy = new Socket(this.family, this.type, this.proto, this.#options);
    copy.#timeout = this.#timeout;
    if (this.#conn !== null) {
      const ns = new NetSocket({ fd, readable: true, writable: true, allowHalfOpen: true });
      const conn = new StreamConnection(ns, this.#conn.peerLabel, {
        highWaterMark: this.#highWaterMark,
        paused: true,
      });
      return copy[kAdopt](conn, this.#unixLocal);
    }
    const label = (this.#listener as Listener).label;
    copy.#listener = await Listener.open({ fd, backlog: 511 }, label);
    copy.#listening = true;
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
    const fd = this.#dupFd("detach");
    await this[kCloseNow]();
    return fd;
  }

  #dupFd(action: string): number {
    if (this.type !== SOCK_STREAM || (this.#conn === null && this.#listener === null)) {
      throw new UnsupportedError(
        `Cannot ${action}: only a connected or listening stream socket can be duplicated here`,
      );
    }
    if (!hasNative()) {
      throw new UnsupportedError(
        `Cannot ${action}: Node.js cannot duplicate a descriptor; the socketkit native addon can (${nativeMissingReason()})`,
      );
    }
    const fd = this.fileno();
    if (fd < 0)
      throw new UnsupportedError(
        `Cannot ${action}: this socket has no descriptor of its own (TLS?)`,
      );
    try {
      return native(action).dup(fd);
    } catch (err) {
      throw toSocketError(err, action);
    }
  }

  /** Datagrams dropped because the receive queue was full (datagram sockets). */
  get droppedDatagrams(): number {
    return this.#dgram?.dropped ?? 0;
  }

  /** Connections closed because too many were waiting for `accept()` (listening sockets). */
  get droppedConnections(): number {
    return this.#listener?.dropped ?? 0;
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
        if (this.#conn) parts.push(`raddr=${formatAddress(this.getpeername())}`);
      } catch {
        // names unavailable
      }
    }
    return `<socket ${parts.join(" ")}>`;
  }
}

function optionKey(level: number, option: number): string | undefined {
  if (level === SOL_SOCKET) {
    if (option === SO_REUSEADDR) return "SO_REUSEADDR";
    if (option === SO_REUSEPORT) return "SO_REUSEPORT";
    if (option === SO_KEEPALIVE) return "SO_KEEPALIVE";
    if (option === SO_RCVBUF) return "SO_RCVBUF";
    if (option === SO_SNDBUF) return "SO_SNDBUF";
  }
  if (level === IPPROTO_TCP && option === TCP_NODELAY) return "TCP_NODELAY";
  return undefined;
}

function labelToHostPort(label: string): [string, number] {
  const i = label.lastIndexOf(":");
  const host = label.slice(0, i).replace(/^\[|\]$/g, "");
  return [host, Number(label.slice(i + 1))];
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
