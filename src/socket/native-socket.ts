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
  SocketError,
  toSocketError,
  UnsupportedError,
} from "../core/errors.ts";
import {
  type NativeAddon,
  type NativeAddress,
  type NativePoller,
  native,
} from "../native/index.ts";
import { resolveAddress } from "./getaddrinfo.ts";
import { kNativeBacked, kReadiness } from "./internal.ts";
import { CLOSED, READABLE, type Readiness, WRITABLE } from "./readiness.ts";
import { Socket, type SocketOptions, setNativeFactory } from "./socket.ts";
import { timeoutError } from "./waiters.ts";

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
 * A socket of a kind Node.js cannot make (Unix datagram, SOCK_SEQPACKET, raw, ICMP ping),
 * on a file descriptor from the native addon, with the same methods as every `Socket`:
 * each call tries the system call at once and, when it would block, waits on a libuv
 * poll handle for the descriptor to be ready (with the socket's timeout), so nothing
 * blocks the event loop. Message boundaries are kept: one `send` is one datagram or
 * packet, one `recv` returns one (cut to `bufsize`, as Python does).
 */
export class NativeSocket extends Socket {
  readonly #addon: NativeAddon;
  readonly #fd: number;
  #poller: NativePoller | null = null;
  #waiters = new Set<Waiter>();
  #isClosed = false;

  constructor(family: number, type: number, proto = 0, options: SocketOptions = {}, fd?: number) {
    super(family, type, proto, { ...options, [kNativeBacked]: true });
    this.#addon = native(describe(family, type, proto));
    if (fd !== undefined) this.#fd = fd;
    else {
      try {
        this.#fd = this.#addon.socket(family, type, proto);
      } catch (err) {
        throw this.#error(err, `create ${describe(family, type, proto)}`);
      }
    }
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
    if (e instanceof PermissionError && (this.type === SOCK_RAW || this.proto === IPPROTO_ICMP)) {
      return new PermissionError(
        `Cannot ${action}: ${this.type === SOCK_RAW ? "raw sockets need root or CAP_NET_RAW" : "ICMP ping sockets need net.ipv4.ping_group_range to include this group"}; \`socketkit ping\` falls back to a TCP connect ping`,
        { code: e.code, cause: err },
      );
    }
    return e;
  }

  #ensureOpen(action: string): void {
    if (this.#isClosed)
      throw new SocketError(`Cannot ${action}: socket is closed`, { code: "EBADF" });
  }

  /** Waits until the descriptor is ready for `events`, with the socket's timeout. */
  #wait(events: number, action: string): Promise<void> {
    const timeout = this.gettimeout();
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

  /** @internal For `socketkit/select`. */
  override [kReadiness](): Readiness {
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
  async #retry<T>(events: number, action: string, call: () => T | null): Promise<T> {
    for (;;) {
      this.#ensureOpen(action);
      let result: T | null;
      try {
        result = call();
      } catch (err) {
        throw this.#error(err, action);
      }
      if (result !== null) return result;
      await this.#wait(events, action);
    }
  }

  /**
   * The address in the addon's form, checked and resolved as every backend does it
   * (`resolveAddress`, `checkUnixAddress`), so a bad port or host, an unknown name or an
   * address of the other family raises what it raises on a node:net or node:dgram socket.
   * `action` is the one those use ("bind", "connect to", "send to").
   */
  async #toNative(address: Address, action: string): Promise<NativeAddress> {
    if (this.family === AF_UNIX) {
      // "" stays as it was (Linux gives it meaning); anything else is checked as a path.
      const path = address === "" ? "" : checkUnixAddress(address, action);
      return { family: "unix", path: Buffer.from(path, "utf8") };
    }
    const { host, port, flowinfo, scopeId } = await resolveAddress(this.family, address, action);
    if (this.family === AF_INET6) return { family: "inet6", host, port, flowinfo, scopeId };
    return { family: "inet", host, port };
  }

  /** An address from the addon as Python gives it: a 4-tuple for AF_INET6. */
  #fromNative(address: NativeAddress | null): SocketAddress {
    if (address === null) {
      if (this.family === AF_UNIX) return "";
      return this.family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
    }
    if (address.family === "unix") return address.path.toString("utf8");
    if (address.family === "inet6") {
      return [address.host, address.port, address.flowinfo ?? 0, address.scopeId ?? 0];
    }
    return [address.host, address.port];
  }

  override async bind(address: Address): Promise<void> {
    this.#ensureOpen("bind");
    const where = await this.#toNative(address, "bind");
    try {
      this.#addon.bind(this.#fd, where);
    } catch (err) {
      throw this.#error(err, `bind ${formatAddress(address)}`);
    }
  }

  override listen(backlog = 128): void {
    this.#ensureOpen("listen");
    try {
      this.#addon.listen(this.#fd, backlog);
    } catch (err) {
      throw this.#error(err, "listen");
    }
  }

  override async accept(): Promise<[Socket, SocketAddress]> {
    const READABLE = this.#addon.constants.UV_READABLE;
    const [fd, address] = await this.#retry(READABLE, "accept", () => this.#addon.accept(this.#fd));
    const conn = new NativeSocket(this.family, this.type, this.proto, {}, fd);
    return [conn, this.#fromNative(address)];
  }

  override async connect(address: Address): Promise<void> {
    const action = `connect to ${formatAddress(address)}`;
    this.#ensureOpen(action);
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
          await this.#wait(WRITABLE, action);
          continue;
        }
        throw this.#error(err, action);
      }
      if (done) return;
      await this.#wait(WRITABLE, action);
      const soError = this.#addon.getsockopt(this.#fd, SOL_SOCKET, this.#addon.constants.SO_ERROR);
      if (soError === 0) return;
      throw this.#error({ code: codeOfErrno(soError), errno: soError }, action);
    }
  }

  override async send(data: Buffer | Uint8Array | string): Promise<number> {
    const buf = toBuffer(data);
    const WRITABLE = this.#addon.constants.UV_WRITABLE;
    return this.#retry(WRITABLE, "send", () => {
      const n = this.#addon.sendto(this.#fd, buf, null);
      return n < 0 ? null : n;
    });
  }

  /** One datagram or packet: a message is sent whole or not at all. */
  override async sendall(data: Buffer | Uint8Array | string): Promise<void> {
    await this.send(data);
  }

  override async sendto(data: Buffer | Uint8Array | string, address: Address): Promise<number> {
    const buf = toBuffer(data);
    const action = `send to ${formatAddress(address)}`;
    this.#ensureOpen(action);
    const where = await this.#toNative(address, "send to");
    const WRITABLE = this.#addon.constants.UV_WRITABLE;
    return this.#retry(WRITABLE, action, () => {
      const n = this.#addon.sendto(this.#fd, buf, where);
      return n < 0 ? null : n;
    });
  }

  override async recv(bufsize: number): Promise<Buffer> {
    return (await this.recvfrom(bufsize))[0];
  }

  override async recvfrom(bufsize: number): Promise<[Buffer, SocketAddress]> {
    const READABLE = this.#addon.constants.UV_READABLE;
    const [data, from] = await this.#retry(READABLE, "receive", () =>
      this.#addon.recvfrom(this.#fd, bufsize),
    );
    return [data, this.#fromNative(from)];
  }

  override shutdown(how: number): void {
    this.#ensureOpen("shutdown");
    try {
      this.#addon.shutdown(this.#fd, how);
    } catch (err) {
      throw this.#error(err, "shutdown");
    }
  }

  override async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    const closed = new SocketError("Cannot wait: socket is closed", { code: "EBADF" });
    for (const w of this.#waiters) w.reject(closed);
    this.#waiters.clear();
    this.#poller?.close();
    this.#poller = null;
    this.#addon.close(this.#fd);
  }

  override get closed(): boolean {
    return this.#isClosed;
  }

  /** The addon's poll handle has no `unref`: a native socket cannot let the process go. */
  override unref(): this {
    throw new UnsupportedError(
      `Cannot unref ${describe(this.family, this.type, this.proto)}: the native addon's sockets always keep the process alive while a call waits on them`,
    );
  }

  /** Native sockets are always ref'd: nothing to do. */
  override ref(): this {
    return this;
  }

  override setsockopt(level: number, option: number, value: number | boolean): void {
    this.#ensureOpen("setsockopt");
    try {
      this.#addon.setsockopt(this.#fd, level, option, Number(value));
    } catch (err) {
      throw this.#error(err, "setsockopt");
    }
  }

  override getsockopt(level: number, option: number): number {
    this.#ensureOpen("getsockopt");
    try {
      return this.#addon.getsockopt(this.#fd, level, option);
    } catch (err) {
      throw this.#error(err, "getsockopt");
    }
  }

  override getsockname(): SocketAddress {
    this.#ensureOpen("getsockname");
    try {
      return this.#fromNative(this.#addon.getsockname(this.#fd, false));
    } catch (err) {
      throw this.#error(err, "getsockname");
    }
  }

  override getpeername(): SocketAddress {
    this.#ensureOpen("getpeername");
    try {
      return this.#fromNative(this.#addon.getsockname(this.#fd, true));
    } catch (err) {
      throw this.#error(err, "getpeername");
    }
  }

  /** The file descriptor (Python's `fileno()`). */
  override fileno(): number {
    return this.#isClosed ? -1 : this.#fd;
  }

  override toString(): string {
    return `<NativeSocket fd=${this.fileno()}, ${describe(this.family, this.type, this.proto)}>`;
  }
}

function toBuffer(data: Buffer | Uint8Array | string): Buffer {
  if (typeof data === "string") return Buffer.from(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

setNativeFactory(
  needsNative,
  (family, type, proto, options) => new NativeSocket(family, type, proto, options),
);
