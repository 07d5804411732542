import {
  type Address,
  checkUnixAddress,
  formatAddress,
  type SocketAddress,
} from "../core/address.ts";
import {
  AF_INET6,
  AF_UNIX,
  IPPROTO_ICMP,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SOL_SOCKET,
} from "../core/constants.ts";
import {
  BlockingIOError,
  codeOfErrno,
  PermissionError,
  type SocketError,
  toSocketError,
  UnsupportedError,
} from "../core/errors.ts";
import { badState } from "../socket/checks.ts";
import { resolveAddress } from "../socket/getaddrinfo.ts";
import { DatagramBackendBase } from "../socket/not-a-stream.ts";
import { CLOSED, READABLE, type Readiness, WRITABLE } from "../socket/readiness.ts";
import type { SocketBackend } from "../socket/socket-backend.ts";
import { timeoutError } from "../socket/waiters.ts";
import { type NativeAddon, type NativeAddress, type NativePoller, native } from "./index.ts";

/** Whether `socket(family, type, proto)` needs the native addon. */
export function needsNative(family: number, type: number, proto: number): boolean {
  if (type === SOCK_SEQPACKET || type === SOCK_RAW) return true;
  if (family === AF_UNIX && type === SOCK_DGRAM) return true;
  return type === SOCK_DGRAM && (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6);
}

const IPPROTO_ICMPV6 = 58;

function describe(family: number, type: number, proto: number): string {
  const f = family === AF_UNIX ? "AF_UNIX" : family === AF_INET6 ? "AF_INET6" : "AF_INET";
  const t =
    type === SOCK_SEQPACKET ? "SOCK_SEQPACKET" : type === SOCK_RAW ? "SOCK_RAW" : "SOCK_DGRAM";
  return `${f} ${t}${proto ? ` (protocol ${proto})` : ""} socket`;
}

interface Waiter {
  events: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The backend of the socket types Node.js cannot make (Unix datagram, SOCK_SEQPACKET, raw,
 * ICMP ping, and UDP with SO_REUSEPORT on a Node.js that cannot set it), on a file
 * descriptor from the native addon: each call tries the system call at once and, when it
 * would block, waits on a libuv poll handle for the descriptor to be ready (with the
 * socket's timeout), so nothing blocks the event loop. Message boundaries are kept: one
 * `send` is one datagram or packet, one `recv` returns one (cut to `bufsize`, as Python
 * does).
 */
export class NativeBackend extends DatagramBackendBase implements SocketBackend {
  readonly #family: number;
  readonly #type: number;
  readonly #proto: number;
  readonly #addon: NativeAddon;
  readonly #fd: number;
  #poller: NativePoller | null = null;
  #waiters = new Set<Waiter>();
  #isClosed = false;
  #connected = false;

  constructor(family: number, type: number, proto = 0, fd?: number) {
    super();
    this.#family = family;
    this.#type = type;
    this.#proto = proto;
    this.#addon = native(describe(family, type, proto));
    if (fd !== undefined) {
      this.#fd = fd;
      this.#connected = true;
    } else {
      try {
        this.#fd = this.#addon.socket(family, type, proto);
      } catch (err) {
        throw this.#error(err, `create ${describe(family, type, proto)}`);
      }
    }
  }

  get connected(): boolean {
    return this.#connected;
  }

  get droppedDatagrams(): number {
    return 0;
  }

  get droppedConnections(): number {
    return 0;
  }

  /** What `socketkit/select` asks: the kernel's answer (poll) and the poll handle's wake. */
  readonly #readiness: Readiness = {
    ready: (events) => this.#readyNow(events),
    watch: (events, wake) => this.#watch(events, wake),
    fileno: () => this.fileno(),
  };

  /** Maps the addon's errno errors to socketkit's, with a word on raw-socket privileges. */
  #error(err: unknown, action: string): SocketError {
    const e = toSocketError(err, action);
    if (e instanceof PermissionError && (this.#type === SOCK_RAW || this.#proto === IPPROTO_ICMP)) {
      return new PermissionError(
        `Cannot ${action}: ${this.#type === SOCK_RAW ? "raw sockets need root or CAP_NET_RAW" : "ICMP ping sockets need net.ipv4.ping_group_range to include this group"}; \`socketkit ping\` falls back to a TCP connect ping`,
        { code: e.code, cause: err },
      );
    }
    return e;
  }

  #ensureOpen(action: string): void {
    if (this.#isClosed) throw badState(`Cannot ${action}: socket is closed`, "EBADF");
  }

  /** Waits until the descriptor is ready for `events`, with the socket's timeout. */
  #wait(events: number, action: string, timeout: number | null): Promise<void> {
    if (timeout === 0) {
      return Promise.reject(
        new BlockingIOError(`Cannot ${action}: resource temporarily unavailable`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const waiter: Waiter = {
        events,
        resolve: () => {
          if (timer) clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          if (timer) clearTimeout(timer);
          reject(err);
        },
      };
      if (timeout !== null) {
        timer = setTimeout(() => {
          this.#waiters.delete(waiter);
          this.#repoll();
          reject(timeoutError(action));
        }, timeout * 1000);
      }
      this.#waiters.add(waiter);
      this.#repoll();
    });
  }

  #repoll(): void {
    let mask = 0;
    for (const w of this.#waiters) mask |= w.events;
    if (mask === 0) {
      this.#poller?.stop();
      return;
    }
    this.#poller ??= new this.#addon.Poller(this.#fd, (status, ready) =>
      this.#onReady(status, ready),
    );
    this.#poller.start(mask);
  }

  #onReady(status: number, ready: number): void {
    for (const w of [...this.#waiters]) {
      if (status < 0 || (w.events & ready) !== 0) {
        this.#waiters.delete(w);
        w.resolve(); // the caller tries its call again and sees the error, if any
      }
    }
    this.#repoll();
  }

  readiness(): Readiness {
    return this.#isClosed ? CLOSED : this.#readiness;
  }

  /** The events of `socketkit/select` (READABLE, WRITABLE) as libuv's poll bits. */
  #uvEvents(events: number): number {
    const { UV_READABLE, UV_WRITABLE } = this.#addon.constants;
    return (
      ((events & READABLE) !== 0 ? UV_READABLE : 0) | ((events & WRITABLE) !== 0 ? UV_WRITABLE : 0)
    );
  }

  #readyNow(events: number): number {
    if (this.#isClosed) return events;
    let uv: number;
    try {
      uv = this.#addon.poll(this.#fd, this.#uvEvents(events));
    } catch {
      return events; // the next call on the socket reports what is wrong, at once
    }
    const { UV_READABLE, UV_WRITABLE } = this.#addon.constants;
    return ((uv & UV_READABLE) !== 0 ? READABLE : 0) | ((uv & UV_WRITABLE) !== 0 ? WRITABLE : 0);
  }

  /** Wakes through the same poll handle the socket's own calls wait on. */
  #watch(events: number, wake: () => void): () => void {
    if (this.#isClosed) return () => {};
    const waiter: Waiter = { events: this.#uvEvents(events), resolve: wake, reject: wake };
    this.#waiters.add(waiter);
    this.#repoll();
    return () => {
      if (this.#waiters.delete(waiter) && !this.#isClosed) this.#repoll();
    };
  }

  /** Runs a non-blocking call until it stops saying "would block". */
  async #retry<T>(
    events: number,
    action: string,
    timeout: number | null,
    call: () => T | null,
  ): Promise<T> {
    for (;;) {
      this.#ensureOpen(action);
      let result: T | null;
      try {
        result = call();
      } catch (err) {
        throw this.#error(err, action);
      }
      if (result !== null) return result;
      await this.#wait(events, action, timeout);
    }
  }

  /**
   * The address in the addon's form, checked and resolved as every backend does it
   * (`resolveAddress`, `checkUnixAddress`), so a bad port or host, an unknown name or an
   * address of the other family raises what it raises on a node:net or node:dgram socket.
   * `action` is the one those use ("bind", "connect to", "send to").
   */
  async #toNative(address: Address, action: string): Promise<NativeAddress> {
    if (this.#family === AF_UNIX) {
      // "" stays as it was (Linux gives it meaning); anything else is checked as a path.
      const path = address === "" ? "" : checkUnixAddress(address, action);
      return { family: "unix", path: Buffer.from(path, "utf8") };
    }
    const { host, port, flowinfo, scopeId } = await resolveAddress(this.#family, address, action);
    if (this.#family === AF_INET6) return { family: "inet6", host, port, flowinfo, scopeId };
    return { family: "inet", host, port };
  }

  /** An address from the addon as Python gives it: a 4-tuple for AF_INET6. */
  #fromNative(address: NativeAddress | null): SocketAddress {
    if (address === null) {
      if (this.#family === AF_UNIX) return "";
      return this.#family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
    }
    if (address.family === "unix") return address.path.toString("utf8");
    if (address.family === "inet6") {
      return [address.host, address.port, address.flowinfo ?? 0, address.scopeId ?? 0];
    }
    return [address.host, address.port];
  }

  async bind(address: Address): Promise<void> {
    const where = await this.#toNative(address, "bind");
    this.#ensureOpen("bind");
    try {
      this.#addon.bind(this.#fd, where);
    } catch (err) {
      throw this.#error(err, `bind ${formatAddress(address)}`);
    }
  }

  listen(backlog = 128): void {
    try {
      this.#addon.listen(this.#fd, backlog);
    } catch (err) {
      throw this.#error(err, "listen");
    }
  }

  async accept(timeout: number | null): Promise<[SocketBackend, SocketAddress]> {
    const READABLE = this.#addon.constants.UV_READABLE;
    const [fd, address] = await this.#retry(READABLE, "accept", timeout, () =>
      this.#addon.accept(this.#fd),
    );
    const conn = new NativeBackend(this.#family, this.#type, this.#proto, fd);
    return [conn, this.#fromNative(address)];
  }

  async connect(address: Address, timeout: number | null): Promise<void> {
    const action = `connect to ${formatAddress(address)}`;
    const where = await this.#toNative(address, "connect to");
    const WRITABLE = this.#addon.constants.UV_WRITABLE;
    for (;;) {
      this.#ensureOpen(action);
      let done: boolean;
      try {
        done = this.#addon.connect(this.#fd, where);
      } catch (err) {
        // A Unix listener with a full queue says EAGAIN: wait for room, then try again.
        if ((err as { code?: string }).code === "EAGAIN") {
          await this.#wait(WRITABLE, action, timeout);
          continue;
        }
        throw this.#error(err, action);
      }
      if (!done) {
        await this.#wait(WRITABLE, action, timeout);
        const soError = this.#addon.getsockopt(
          this.#fd,
          SOL_SOCKET,
          this.#addon.constants.SO_ERROR,
        );
        if (soError !== 0) {
          throw this.#error({ code: codeOfErrno(soError), errno: soError }, action);
        }
      }
      this.#connected = true;
      return;
    }
  }

  useTls(): void {
    throw new UnsupportedError(
      `Cannot use TLS on ${describe(this.#family, this.#type, this.#proto)}: only TCP sockets can`,
    );
  }

  async connectFrom(address: [string, number]): Promise<void> {
    await this.bind(address);
  }

  async send(data: Buffer, timeout: number | null): Promise<number> {
    const WRITABLE = this.#addon.constants.UV_WRITABLE;
    return this.#retry(WRITABLE, "send", timeout, () => {
      const n = this.#addon.sendto(this.#fd, data, null);
      return n < 0 ? null : n;
    });
  }

  /** One datagram or packet: a message is sent whole or not at all. */
  async sendall(data: Buffer | string, timeout: number | null): Promise<void> {
    await this.send(typeof data === "string" ? Buffer.from(data, "utf8") : data, timeout);
  }

  async sendto(data: Buffer, address: Address, timeout: number | null): Promise<number> {
    const action = `send to ${formatAddress(address)}`;
    const where = await this.#toNative(address, "send to");
    const WRITABLE = this.#addon.constants.UV_WRITABLE;
    return this.#retry(WRITABLE, action, timeout, () => {
      const n = this.#addon.sendto(this.#fd, data, where);
      return n < 0 ? null : n;
    });
  }

  async recvfrom(bufsize: number, timeout: number | null): Promise<[Buffer, SocketAddress]> {
    const READABLE = this.#addon.constants.UV_READABLE;
    const [data, from] = await this.#retry(READABLE, "receive", timeout, () =>
      this.#addon.recvfrom(this.#fd, bufsize),
    );
    return [data, this.#fromNative(from)];
  }

  takeDatagram(): undefined {
    return undefined;
  }

  shutdown(how: number): void {
    try {
      this.#addon.shutdown(this.#fd, how);
    } catch (err) {
      throw this.#error(err, "shutdown");
    }
  }

  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    const closed = badState("Cannot wait: socket is closed", "EBADF");
    for (const w of this.#waiters) w.reject(closed);
    this.#waiters.clear();
    this.#poller?.close();
    this.#poller = null;
    this.#addon.close(this.#fd);
  }

  /** The addon's poll handle has no `unref`: a native socket cannot let the process go. */
  setRef(ref: boolean): void {
    if (ref) return;
    throw new UnsupportedError(
      `Cannot unref ${describe(this.#family, this.#type, this.#proto)}: the native addon's sockets always keep the process alive while a call waits on them`,
    );
  }

  setsockopt(level: number, option: number, value: number | Buffer): void {
    try {
      this.#addon.setsockopt(this.#fd, level, option, value);
    } catch (err) {
      throw this.#error(err, "setsockopt");
    }
  }

  getsockopt(level: number, option: number): number {
    try {
      return this.#addon.getsockopt(this.#fd, level, option);
    } catch (err) {
      throw this.#error(err, "getsockopt");
    }
  }

  getsockname(): SocketAddress {
    try {
      return this.#fromNative(this.#addon.getsockname(this.#fd, false));
    } catch (err) {
      throw this.#error(err, "getsockname");
    }
  }

  getpeername(): SocketAddress {
    try {
      return this.#fromNative(this.#addon.getsockname(this.#fd, true));
    } catch (err) {
      throw this.#error(err, "getpeername");
    }
  }

  /** The file descriptor (Python's `fileno()`). */
  fileno(): number {
    return this.#isClosed ? -1 : this.#fd;
  }

  override setIdleTimeout(): void {
    throw new UnsupportedError(
      `Cannot set the idle timeout of ${describe(this.#family, this.#type, this.#proto)}: only TCP and Unix stream connections have one`,
    );
  }
}
