/**
 * What a {@link Socket} stands on. `Socket` is the Python API (argument checks, timeouts,
 * files, closing once); one `SocketBackend`, chosen when the socket is made, does the I/O:
 * `NetStreamBackend` (node:net: a connection or a listening socket), `DgramBackend`
 * (node:dgram), or the native addon's backend, which lives in `src/native/` and
 * registers itself here with {@link registerNative} (this layer never imports it).
 *
 * A backend gets its arguments checked (sizes, modes, `how`) and the socket's timeout
 * with each call that may wait: `null` blocks, `0` is non-blocking (`BlockingIOError`
 * when the call would wait), else seconds after which the call raises `TimeoutError`.
 * @module
 */
import type { Socket as NetSocket, Server } from "node:net";
import type { ConnectionOptions, TlsOptions } from "node:tls";
import type { Address, SocketAddress } from "../core/address.ts";
import type { Readiness } from "./readiness.ts";
import type { StreamConnection } from "./stream-connection.ts";

/** Options for binding a listening socket (`createServer` and the servers use them). */
export interface BindOptions {
  /** AF_INET6 listening sockets: IPv6 only (no IPv4-mapped peers). @default false */
  ipv6Only?: boolean;
  /** Set SO_REUSEPORT before binding: several sockets share the address. @default false */
  reusePort?: boolean;
  /** The kernel's listen backlog. @default 511 */
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

/** Where a backend's buffers start (see `SocketOptions`). */
export interface BackendOptions {
  highWaterMark?: number;
  maxQueuedDatagrams?: number;
  maxQueuedBytes?: number;
  /** Use the native I/O path when the addon has it (see `SocketOptions.nativeIO`). */
  nativeIO?: boolean;
}

/**
 * One socket's I/O. Every call but `close` may assume the socket is open (the facade
 * checks); a call that waits ends with `EBADF` when `close` comes meanwhile.
 */
export interface SocketBackend {
  bind(address: Address, options: BindOptions): Promise<void>;
  listen(backlog: number | undefined): void;
  /** The next connection, as a backend of its own, and its peer's address. */
  accept(timeout: number | null): Promise<[SocketBackend, SocketAddress]>;
  connect(address: Address, timeout: number | null): Promise<void>;
  /** Run TLS over the connection `connect` makes (stream sockets on node:net only). */
  useTls(options: ConnectionOptions, fingerprint256: string | null): void;
  /** Connect from this local address (createConnection's `sourceAddress`). */
  connectFrom(address: [string, number]): Promise<void>;
  send(data: Buffer, timeout: number | null): Promise<number>;
  sendall(data: Buffer | string, timeout: number | null): Promise<void>;
  sendto(data: Buffer, address: Address, timeout: number | null): Promise<number>;
  /** `bufsize` is a non-negative integer. */
  recv(bufsize: number, timeout: number | null): Promise<Buffer>;
  /** Into `buffer[0, nbytes)`, `nbytes` >= 0 and within the buffer. */
  recvInto(buffer: Uint8Array, nbytes: number, timeout: number | null): Promise<number>;
  recvfrom(bufsize: number, timeout: number | null): Promise<[Buffer, SocketAddress]>;
  /** A datagram already received, without waiting; undefined when none is queued. */
  takeDatagram(bufsize: number): [Buffer, SocketAddress] | undefined;
  /** `how` is SHUT_RD, SHUT_WR or SHUT_RDWR. */
  shutdown(how: number): void;
  /** Releases everything; a second call returns the first's promise. */
  close(): Promise<void>;
  /** Whether what the socket holds keeps the process alive (now and what it makes later). */
  setRef(ref: boolean): void;
  /** `value` is a non-negative integer. */
  /** An int option, or SO_LINGER's 8 bytes (`l_onoff`, `l_linger`), checked by the facade. */
  setsockopt(level: number, option: number, value: number | Buffer): void;
  getsockopt(level: number, option: number): number;
  getsockname(): SocketAddress;
  getpeername(): SocketAddress;
  fileno(): number;
  /** What `socketkit/select` asks (see readiness.ts). */
  readiness(): Readiness;
  /** A backend on a duplicate of the descriptor (Python's `dup`). */
  dup(): Promise<SocketBackend>;
  /** A duplicate of the descriptor, the caller's to own (Python's `detach`). */
  dupFd(action: string): number;
  /** The connection of a connected stream socket, for `makefile` and bulk transfers. */
  connection(action: string): StreamConnection;
  /**
   * The connection `sendall` writes to at once, with nothing to wait for first (connected,
   * not connecting), or null: for `Socket.sendallEach`. Absent on backends without one.
   */
  sendallConnection?(): StreamConnection | null;
  /** Closes a connection that neither sends nor receives for this long (null: never). */
  setIdleTimeout(seconds: number | null): void;
  /** Sends a file's bytes (see `Socket.sendfile`); stream sockets only. */
  sendfile(fd: number, offset: number, total: number, timeout: number | null): Promise<number>;
  readonly droppedDatagrams: number;
  readonly droppedConnections: number;
  /** Whether the socket is connected to a peer (for `toString`). */
  readonly connected: boolean;
}

/** The calls of the native addon that the socket layer uses, for node:net's sockets. */
export interface NativeCalls {
  /** A new descriptor of the same open socket (close-on-exec). */
  dup(fd: number): number;
  /**
   * A listening TCP socket with SO_REUSEPORT, for a Node.js that cannot set it itself:
   * its descriptor, for `net.Server.listen({ fd })`.
   */
  reusePortListener(
    family: number,
    host: string,
    port: number,
    backlog: number,
    ipv6Only: boolean,
    label: string,
  ): number;
  /**
   * Bulk reads and writes on the thread pool: each moves what it can, and waits for the
   * peer at most `ms` (0: not at all, it returns at EAGAIN; see {@link NativeCalls.whenReady}).
   */
  recvInto(fd: number, buffer: Buffer, offset: number, length: number, ms: number): Promise<number>;
  sendFrom(fd: number, buffer: Buffer, offset: number, length: number, ms: number): Promise<number>;
  sendFile(fd: number, fileFd: number, offset: number, count: number, ms: number): Promise<number>;
  /**
   * Resolves when `fd` may be read (`writable`: written), or after `ms`, waiting on the
   * event loop (the reactor's epoll): absent where there is no reactor, and then the bulk
   * calls wait in their thread instead.
   */
  whenReady?(fd: number, writable: boolean, ms: number): Promise<void>;
  writeFile(
    fd: number,
    buffer: Buffer,
    offset: number,
    length: number,
    slice: number,
  ): Promise<number>;
}

/**
 * Stream sockets on the native I/O path (the addon's reactor): objects with the part of
 * `net.Socket` and `net.Server` that `StreamConnection` and `Listener` use, so the
 * node:net backend runs on them unchanged.
 */
export interface NativeStreams {
  /** An unconnected stream socket, for `connect({ host, port } | { path })`. */
  socket(): NetSocket;
  /** A connected stream socket on the descriptor `fd` (a duplicate), reading paused. */
  socketOn(fd: number): NetSocket;
  /** A server, for `listen(options)`; its connections come paused. */
  server(): Server;
}

/** Datagram sockets on the native I/O path (the addon's reactor). */
export interface NativeDatagrams {
  /**
   * A UDP socket of `family` (AF_INET or AF_INET6), its descriptor made when first needed,
   * or an AF_UNIX SOCK_DGRAM socket, its descriptor made at once.
   */
  create(family: number, options: BackendOptions): SocketBackend;
}

/** What the native layer gives the socket layer when it registers. */
export interface NativeSupport {
  /** Whether `socket(family, type, proto)` is the native backend's (the types Node lacks). */
  handles(family: number, type: number, proto: number): boolean;
  /** A new socket of such a type (throws what the system call raises). */
  create(family: number, type: number, proto: number, options: BackendOptions): SocketBackend;
  /** The addon's calls, or null when it is absent. */
  calls: NativeCalls | null;
  /** Why the addon is absent, or null when it is there. */
  missing: string | null;
  /** The native I/O path for stream sockets, or null where the addon lacks it. */
  streams: NativeStreams | null;
  /** The native I/O path for UDP and Unix datagram sockets, or null where the addon lacks it. */
  datagrams: NativeDatagrams | null;
}

let support: NativeSupport | null = null;

/** @internal Called once by `src/native/` when it is loaded (the package's entry loads it). */
export function registerNative(s: NativeSupport): void {
  support = s;
}

/** What the native layer registered, or null when it was not loaded. */
export function nativeSupport(): NativeSupport | null {
  return support;
}

/** The addon's calls, or null when it is absent (or the native layer was not loaded). */
export function nativeCalls(): NativeCalls | null {
  return support?.calls ?? null;
}

/**
 * The native I/O path for stream sockets, when the addon has it and neither
 * `SOCKETKIT_NO_NATIVE` nor `SOCKETKIT_NO_NATIVE_IO` is set; else null.
 */
export function nativeStreams(): NativeStreams | null {
  if (process.env.SOCKETKIT_NO_NATIVE_IO) return null;
  return support?.streams ?? null;
}

/**
 * The native I/O path for UDP and Unix datagram sockets, when the addon has it and neither
 * `SOCKETKIT_NO_NATIVE` nor `SOCKETKIT_NO_NATIVE_IO` is set; else null.
 */
export function nativeDatagrams(): NativeDatagrams | null {
  if (process.env.SOCKETKIT_NO_NATIVE_IO) return null;
  return support?.datagrams ?? null;
}

/** Why the addon's calls are not there. */
export function nativeMissing(): string {
  return support?.missing ?? "the native layer was not loaded (import socketkit)";
}
