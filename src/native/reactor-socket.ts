import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import { getSystemErrorName } from "node:util";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  IPPROTO_TCP,
  SHUT_WR,
  SO_KEEPALIVE,
  SO_LINGER,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../core/constants.ts";
import type { DirectSource } from "../socket/stream-connection.ts";
import type { NativeAddon, NativeAddress } from "./index.ts";
import { type Reactor, type ReactorError, type ReactorHandler, SLAB } from "./reactor.ts";
import { decodeSockaddr } from "./sockaddr.ts";

/** SO_LINGER on with 0 seconds: `struct linger { 1, 0 }`, so close() sends a reset. */
const LINGER_RESET = Buffer.from(new Int32Array([1, 0]).buffer);

/** Where {@link ReactorSocket.connect} goes, as `net.Socket.connect` takes it. */
export type ConnectTarget =
  | { path: string }
  | { host: string; port: number; family?: number; localAddress?: string; localPort?: number };

/** A write the kernel has not taken whole yet. */
interface Pending {
  /** What is left of it. */
  data: Buffer;
  /** Its whole length, counted in `writableLength` until it is all sent (as Node does). */
  length: number;
  callback: ((err?: Error | null) => void) | undefined;
}

/**
 * A stream socket (TCP or Unix) on the native reactor, with the part of `net.Socket` that
 * socketkit's `StreamConnection` uses: `'data'`, `'end'`, `'error'`, `'close'` and
 * `'connect'` events, `write` (straight to the kernel: what it does not take waits for the
 * reactor's writable event), `end`, `destroy`, `pause`/`resume`, `ref`/`unref`, the byte
 * counters and addresses, and a `_handle` with the descriptor. Half-open like a
 * `net.Socket` made with `allowHalfOpen`: the peer's FIN is `'end'`, and writing goes on.
 */
export class ReactorSocket extends EventEmitter implements ReactorHandler {
  /** The ids, results and places of {@link tryWriteEach}, reused from call to call. */
  static #ids = new Int32Array(256);
  static #results = new Int32Array(256);
  static #where = new Int32Array(256);

  readonly #reactor: Reactor;
  readonly #addon: NativeAddon;
  #id = -1;
  #fd = -1;
  #paused = false;
  /** Reading stopped by a loan of the descriptor (`_handle.readStop`). */
  #lent = false;
  #ref = true;
  /** Whether the registration keeps the event loop alive now (see {@link #keepAlive}). */
  #alive = false;
  /** The peer's FIN came: nothing more to read. */
  #eof = false;
  #pending: Pending[] = [];
  #queued = 0;
  #ending = false;
  #destroyAfterFlush = false;
  /** `cork()` calls not yet undone: writes wait to leave together. */
  #corked = 0;
  #remote: NativeAddress | null = null;
  #local: NativeAddress | null = null;
  destroyed = false;
  connecting = false;
  bytesRead = 0;
  bytesWritten = 0;
  readonly readableLength = 0;
  readonly encrypted = undefined;
  #handle: ReactorHandle | null = null;
  /** Who gets the bytes read, instead of `'data'` listeners (see {@link setReceiver}). */
  #receiver: { receive(chunk: Buffer): void } | null = null;

  /** A socket on `fd` (an accepted connection: `remote` is its peer), or one to connect. */
  constructor(
    reactor: Reactor,
    addon: NativeAddon,
    fd?: number,
    options: { paused?: boolean; remote?: Buffer } = {},
  ) {
    super();
    this.#reactor = reactor;
    this.#addon = addon;
    this.#paused = options.paused ?? false;
    if (fd !== undefined) {
      this.#fd = fd;
      if (options.remote !== undefined) {
        try {
          this.#remote = decodeSockaddr(options.remote);
        } catch {
          // an address of another family: none to show
        }
      }
      this.#id = reactor.register(fd, "stream", this, {
        reading: !this.#paused,
        ref: false,
      });
      this.#keepAlive();
    }
  }

  /**
   * Keeps the event loop alive as libuv's handle would: while `ref`'d and busy (reading,
   * connecting, or with bytes waiting to be sent), not merely while open, so a paused or
   * finished connection lets a program end as a `net.Socket` does.
   */
  #keepAlive(): void {
    if (this.#id < 0 || this.destroyed) return;
    const busy =
      this.connecting || this.#queued > 0 || (!this.#paused && !this.#lent && !this.#eof);
    const alive = this.#ref && busy;
    if (alive === this.#alive) return;
    this.#alive = alive;
    this.#reactor.ref(this.#id, alive);
  }

  // The reactor's calls (this socket is its own ReactorHandler: no closure per connection).

  /** @internal Bytes read by the reactor. */
  onData(data: Buffer): void {
    this.bytesRead += data.length;
    // A view holds its whole batch (up to a megabyte of other sockets' bytes) for as long
    // as it is kept, and StreamConnection keeps what is not read at once: a small part of
    // a larger batch is copied out, so what a socket holds is what it counts. A view of a
    // slab (small batches share one, and the small reads of a larger batch come in slabs)
    // holds no more than a copy from Node.js's pool would, and is kept as it is.
    const held = data.buffer.byteLength;
    const chunk = held > SLAB && data.length * 2 < held ? Buffer.from(data) : data;
    if (this.#receiver !== null) this.#receiver.receive(chunk);
    else this.emit("data", chunk);
  }

  /**
   * Hands every chunk read to `receiver` by a call instead of a `'data'` event (one
   * receiver, for good: the `StreamConnection` over this socket).
   */
  setReceiver(receiver: { receive(chunk: Buffer): void }): void {
    this.#receiver = receiver;
  }

  /** @internal The peer's FIN. */
  onEnd(): void {
    this.#eof = true;
    this.#keepAlive();
    this.emit("end");
  }

  /** @internal A fatal error of the stream. */
  onError(err: ReactorError): void {
    this.destroy(err);
  }

  /** @internal Room to write again. */
  onWritable(): void {
    this.#flush();
  }

  /** @internal The end of a connect. */
  onConnect(err: ReactorError | null): void {
    this.#onConnect(err);
  }

  /**
   * What `StreamConnection` and the bulk transfers ask of libuv's handle: made when first
   * asked for (most connections never are).
   */
  get _handle(): ReactorHandle {
    this.#handle ??= new ReactorHandle(this);
    return this.#handle;
  }

  /** @internal The descriptor, or -1 once destroyed (the handle's `fd`). */
  handleFd(): number {
    return this.destroyed ? -1 : this.#fd;
  }

  /** @internal Reading stopped (`lent`) or given back by a loan of the descriptor. */
  lendReading(lent: boolean): void {
    this.#lent = lent;
    this.#setReading();
  }

  /** @internal 0 while the peer is connected, else a negative errno (the handle's `getpeername`). */
  peerErrno(): number {
    try {
      this.#addon.getsockname(this.#fd, true);
      return 0;
    } catch (err) {
      return (err as { errno?: number }).errno ?? -1;
    }
  }

  /** Connects (as `net.Socket.connect`): `'connect'` when done, `'error'` then `'close'` if not. */
  connect(target: ConnectTarget): this {
    this.connecting = true;
    try {
      let family: number;
      let where: NativeAddress;
      if ("path" in target) {
        family = AF_UNIX;
        where = { family: "unix", path: Buffer.from(target.path, "utf8") };
      } else {
        family = target.family === 6 || isIP(target.host) === 6 ? AF_INET6 : AF_INET;
        where =
          family === AF_INET6
            ? { family: "inet6", host: target.host, port: target.port }
            : { family: "inet", host: target.host, port: target.port };
      }
      this.#fd = this.#addon.socket(family, SOCK_STREAM, 0);
      if (!("path" in target) && (target.localAddress !== undefined || target.localPort)) {
        const host = target.localAddress ?? (family === AF_INET6 ? "::" : "0.0.0.0");
        const port = target.localPort ?? 0;
        this.#addon.bind(
          this.#fd,
          family === AF_INET6 ? { family: "inet6", host, port } : { family: "inet", host, port },
        );
      }
      this.#addon.connect(this.#fd, where);
      this.#id = this.#reactor.register(this.#fd, "stream", this, {
        reading: !this.#paused,
        connecting: true,
        ref: false,
      });
      this.#keepAlive();
    } catch (err) {
      process.nextTick(() => this.destroy(err as Error));
    }
    return this;
  }

  #onConnect(err: ReactorError | null): void {
    this.connecting = false;
    this.#keepAlive();
    if (err !== null) {
      this.destroy(err);
      return;
    }
    this.emit("connect");
    // Writes made while connecting leave now, as net.Socket sends them.
    if (this.#pending.length > 0 && this.#corked === 0) this.#flush();
  }

  #setReading(): void {
    if (this.#id < 0 || this.destroyed) return;
    this.#reactor.setReading(this.#id, !this.#paused && !this.#lent);
    this.#keepAlive();
  }

  pause(): this {
    this.#paused = true;
    this.#setReading();
    return this;
  }

  resume(): this {
    this.#paused = false;
    this.#setReading();
    return this;
  }

  isPaused(): boolean {
    return this.#paused;
  }

  /** Nothing is buffered here: every byte read is handed out at once. */
  read(): null {
    return null;
  }

  ref(): this {
    this.#ref = true;
    this.#keepAlive();
    return this;
  }

  unref(): this {
    this.#ref = false;
    this.#keepAlive();
    return this;
  }

  setKeepAlive(on = false): this {
    this.#option(SOL_SOCKET, SO_KEEPALIVE, on);
    return this;
  }

  setNoDelay(on = true): this {
    this.#option(IPPROTO_TCP, TCP_NODELAY, on);
    return this;
  }

  #option(level: number, name: number, on: boolean): void {
    if (this.#fd < 0 || this.destroyed) return;
    try {
      this.#addon.setsockopt(this.#fd, level, name, on ? 1 : 0);
    } catch {
      // a Unix socket has no TCP options; net.Socket ignores them there too
    }
  }

  /** The descriptor (libuv's handle has it as `fd`). */
  get fd(): number {
    return this.destroyed ? -1 : this.#fd;
  }

  get writableLength(): number {
    return this.#queued;
  }

  /**
   * Sends now what the kernel takes; the rest waits, by reference, for the reactor's
   * writable event. `callback` runs once all of `data` is handed to the kernel.
   */
  write(data: Buffer | string, callback?: (err?: Error | null) => void): boolean {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    // Failures reach the callback at once: StreamConnection records them before the
    // next send (a loop of sends that each resolve at once would never see a later tick).
    if (this.destroyed || this.#ending) {
      callback?.(Object.assign(new Error("write after end"), { code: "EPIPE" }));
      return false;
    }
    if (this.#queued === 0 && !this.connecting && this.#corked === 0) {
      let n: number;
      try {
        n = this.#reactor.write(this.#id, buf, 0, buf.length);
      } catch (err) {
        callback?.(err as Error);
        this.destroy(err as Error);
        return false;
      }
      if (n < 0) n = 0;
      this.bytesWritten += n;
      if (n === buf.length) {
        callback?.(null);
        return true;
      }
      this.#pending.push({ data: buf.subarray(n), length: buf.length, callback });
      this.#queued += buf.length;
      this.#reactor.wantWritable(this.#id);
      this.#keepAlive();
      return false;
    }
    this.#pending.push({ data: buf, length: buf.length, callback });
    this.#queued += buf.length;
    this.#keepAlive();
    return false;
  }

  /**
   * {@link write} for `StreamConnection`'s sendall: true, without calling `callback`, when
   * the kernel took all of `data` at once.
   */
  tryWrite(data: Buffer, callback: (err?: Error | null) => void): boolean {
    if (this.#queued === 0 && !this.connecting && this.#corked === 0 && !this.destroyed) {
      if (!this.#ending) {
        let n: number;
        try {
          n = this.#reactor.write(this.#id, data, 0, data.length);
        } catch (err) {
          callback(err as Error);
          this.destroy(err as Error);
          return false;
        }
        if (n === data.length) {
          this.bytesWritten += n;
          return true;
        }
        if (n < 0) n = 0;
        this.bytesWritten += n;
        this.#pending.push({ data: data.subarray(n), length: data.length, callback });
        this.#queued += data.length;
        this.#reactor.wantWritable(this.#id);
        this.#keepAlive();
        return false;
      }
    }
    this.write(data, callback);
    return false;
  }

  /**
   * {@link tryWrite} of the same `data` on each of `sources`: those on this socket's reactor
   * that can write at once (nothing queued, not connecting, corked or ending) are written
   * to in one call to the addon (`Reactor.writeEach`, one native loop of send(2)), any
   * other with its own `tryWrite`. `took[i]` says whether sources[i] took every byte at
   * once (its callback is then not called); otherwise what is left waits for the reactor's
   * writable event, or the write failed, and `callbacks[i]` is called as `tryWrite` calls it.
   */
  tryWriteEach(
    sources: readonly DirectSource[],
    data: Buffer,
    callbacks: readonly ((err?: Error | null) => void)[],
    took: boolean[],
  ): void {
    if (ReactorSocket.#ids.length < sources.length) {
      let size = ReactorSocket.#ids.length;
      while (size < sources.length) size *= 2;
      ReactorSocket.#ids = new Int32Array(size);
      ReactorSocket.#results = new Int32Array(size);
      ReactorSocket.#where = new Int32Array(size);
    }
    const ids = ReactorSocket.#ids;
    const where = ReactorSocket.#where;
    let count = 0;
    for (let i = 0; i < sources.length; i++) {
      const s = sources[i] as DirectSource;
      if (s instanceof ReactorSocket && s.#reactor === this.#reactor && s.#writesNow()) {
        ids[count] = s.#id;
        where[count++] = i;
      } else took[i] = s.tryWrite(data, callbacks[i] as (err?: Error | null) => void);
    }
    if (count === 0) return;
    const results = ReactorSocket.#results;
    this.#reactor.writeEach(ids, count, data, results);
    const failed: number[] = [];
    for (let k = 0; k < count; k++) {
      const i = where[k] as number;
      const s = sources[i] as ReactorSocket;
      const n = results[k] as number;
      if (n === data.length) {
        s.bytesWritten += n;
        took[i] = true;
        continue;
      }
      took[i] = false;
      if (n >= 0) s.#queueRest(data, n, callbacks[i]);
      else failed.push(i, n);
    }
    // After the loop: a failure's callback and 'error' must not see the shared arrays reused.
    for (let k = 0; k < failed.length; k += 2) {
      const s = sources[failed[k] as number] as ReactorSocket;
      const errno = failed[k + 1] as number;
      const code = getSystemErrorName(errno);
      const err = Object.assign(new Error(`${code}: send failed`), {
        code,
        errno,
        syscall: "send",
      });
      callbacks[failed[k] as number]?.(err);
      s.destroy(err);
    }
  }

  /** Nothing stands between a write and the kernel: it may go now, whole. */
  #writesNow(): boolean {
    return (
      this.#queued === 0 &&
      !this.connecting &&
      this.#corked === 0 &&
      !this.destroyed &&
      !this.#ending &&
      this.#id >= 0
    );
  }

  /** The kernel took `n` bytes of `data`: the rest waits for the writable event. */
  #queueRest(data: Buffer, n: number, callback: ((err?: Error | null) => void) | undefined): void {
    this.bytesWritten += n;
    this.#pending.push({ data: data.subarray(n), length: data.length, callback });
    this.#queued += data.length;
    this.#reactor.wantWritable(this.#id);
    this.#keepAlive();
  }

  /** Holds writes until {@link uncork}, to send them in one system call. */
  cork(): void {
    this.#corked++;
  }

  /** Sends what {@link cork} held, the small writes as one. */
  uncork(): void {
    if (this.#corked === 0 || --this.#corked > 0 || this.destroyed || this.connecting) return;
    const pending = this.#pending;
    if (pending.length > 1 && this.#queued <= 65536) {
      const callbacks = pending.map((p) => p.callback);
      const data = Buffer.concat(pending.map((p) => p.data));
      this.#pending = [
        {
          data,
          length: this.#queued,
          callback: (err) => {
            for (const cb of callbacks) cb?.(err);
          },
        },
      ];
    }
    this.#flush();
  }

  /** The reactor says the socket takes more: writes what waits, in order. */
  #flush(): void {
    while (this.#pending.length > 0) {
      const p = this.#pending[0] as Pending;
      let n: number;
      try {
        n = this.#reactor.write(this.#id, p.data, 0, p.data.length);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (n < 0) n = 0;
      this.bytesWritten += n;
      if (n < p.data.length) {
        p.data = p.data.subarray(n);
        this.#reactor.wantWritable(this.#id);
        return;
      }
      this.#pending.shift();
      this.#queued -= p.length;
      p.callback?.(null);
    }
    this.#keepAlive();
    if (this.#destroyAfterFlush) this.destroy();
    else if (this.#ending) this.#shutdownWrite();
    this.emit("drain");
  }

  #shutdownWrite(): void {
    try {
      this.#addon.shutdown(this.#fd, SHUT_WR);
    } catch {
      // the peer is gone: the next read or write says so
    }
  }

  /** Sends FIN once what is queued has gone (half-close). */
  end(): this {
    if (this.#ending || this.destroyed) return this;
    this.#ending = true;
    if (this.connecting) this.once("connect", () => this.#queued === 0 && this.#shutdownWrite());
    else if (this.#queued === 0) this.#shutdownWrite();
    return this;
  }

  /** Closes once what is queued has gone. */
  destroySoon(): void {
    if (this.#queued === 0 && !this.connecting) this.destroy();
    else this.#destroyAfterFlush = true;
  }

  /** Closes now: `'error'` (with `err`), then `'close'`, on the next tick. */
  destroy(err?: Error | null): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.connecting = false;
    if (this.#id >= 0) this.#reactor.close(this.#id);
    else if (this.#fd >= 0) this.#addon.close(this.#fd);
    this.#pending = [];
    this.#queued = 0;
    process.nextTick(() => {
      if (err) this.emit("error", err);
      this.emit("close", Boolean(err));
    });
    return this;
  }

  /** net.Socket's `resetAndDestroy`: closes at once with a reset (what is queued is dropped). */
  resetAndDestroy(): this {
    if (this.#fd >= 0 && !this.destroyed) {
      try {
        this.#addon.setsockopt(this.#fd, SOL_SOCKET, SO_LINGER, LINGER_RESET);
      } catch {
        // A Unix socket has no reset: closed all the same.
      }
    }
    return this.destroy();
  }

  #address(peer: boolean): NativeAddress | null {
    if (this.#fd < 0 || this.destroyed) return peer ? this.#remote : this.#local;
    try {
      const a = this.#addon.getsockname(this.#fd, peer);
      if (peer) this.#remote = a;
      else this.#local = a;
      return a;
    } catch {
      return peer ? this.#remote : this.#local;
    }
  }

  get remoteAddress(): string | undefined {
    const a = this.#remote ?? this.#address(true);
    return a === null || a.family === "unix" ? undefined : a.host;
  }

  get remotePort(): number | undefined {
    const a = this.#remote ?? this.#address(true);
    return a === null || a.family === "unix" ? undefined : a.port;
  }

  get remoteFamily(): string | undefined {
    const a = this.#remote ?? this.#address(true);
    return a === null || a.family === "unix" ? undefined : a.family === "inet6" ? "IPv6" : "IPv4";
  }

  get localAddress(): string | undefined {
    const a = this.#address(false);
    return a === null || a.family === "unix" ? undefined : a.host;
  }

  get localPort(): number | undefined {
    const a = this.#address(false);
    return a === null || a.family === "unix" ? undefined : a.port;
  }
}

/** The part of libuv's stream handle that `StreamConnection` and the bulk transfers use. */
class ReactorHandle {
  readonly #socket: ReactorSocket;
  /** net.Socket's flag (a loan sets it so that net.Socket does not restart reading). */
  reading = true;

  constructor(socket: ReactorSocket) {
    this.#socket = socket;
  }

  get fd(): number {
    return this.#socket.handleFd();
  }

  readStop(): number {
    this.#socket.lendReading(true);
    return 0;
  }

  readStart(): number {
    this.#socket.lendReading(false);
    return 0;
  }

  getpeername(): number {
    return this.#socket.peerErrno();
  }
}
