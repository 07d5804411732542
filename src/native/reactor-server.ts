import { EventEmitter } from "node:events";
import { unlinkSync } from "node:fs";
import { isIP } from "node:net";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import type { NativeAddon, NativeAddress } from "./index.ts";
import type { Reactor } from "./reactor.ts";
import { ReactorSocket } from "./reactor-socket.ts";

const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
/** How long a listener that ran out of descriptors waits before it accepts again. */
const ACCEPT_RETRY_MS = 100;

/** What {@link ReactorServer.listen} takes, as `net.Server.listen` does. */
export type ListenTarget =
  | { path: string; backlog?: number }
  | { fd: number; backlog?: number }
  | { host: string; port: number; backlog?: number; ipv6Only?: boolean; reusePort?: boolean };

/**
 * A listening stream socket on the native reactor, with the part of `net.Server` that
 * socketkit's `Listener` uses: `listen`, `'listening'`, `'connection'` (a
 * {@link ReactorSocket}, not reading until resumed, as with `pauseOnConnect`), `'error'`,
 * `address`, `close`, `ref`/`unref` and a `_handle` with the descriptor. Accepting runs in
 * the reactor, many connections a wake-up.
 */
export class ReactorServer extends EventEmitter {
  readonly #reactor: Reactor;
  readonly #addon: NativeAddon;
  #id = -1;
  #fd = -1;
  #ref = true;
  /** A Unix socket's path this server made, removed when it closes (as libuv does). */
  #path: string | null = null;
  listening = false;

  constructor(reactor: Reactor, addon: NativeAddon) {
    super();
    this.#reactor = reactor;
    this.#addon = addon;
  }

  get _handle(): { fd: number } | null {
    return this.listening ? { fd: this.#fd } : null;
  }

  /** Binds and listens: `'listening'` on the next tick, or `'error'`. */
  listen(target: ListenTarget): this {
    try {
      this.#fd = "fd" in target ? target.fd : this.#bind(target);
      this.#id = this.#reactor.register(
        this.#fd,
        "listener",
        {
          onAccept: (fd, address) => this.#onAccept(fd, address),
          onError: (err) => this.#onError(err),
        },
        { ref: this.#ref },
      );
      this.listening = true;
      process.nextTick(() => this.emit("listening"));
    } catch (err) {
      if (this.#fd >= 0 && !("fd" in target)) this.#addon.close(this.#fd);
      this.#fd = -1;
      process.nextTick(() => this.emit("error", err));
    }
    return this;
  }

  #bind(target: Exclude<ListenTarget, { fd: number }>): number {
    const backlog = target.backlog ?? 511;
    if ("path" in target) {
      const fd = this.#addon.socket(AF_UNIX, SOCK_STREAM, 0);
      try {
        this.#addon.bind(fd, { family: "unix", path: Buffer.from(target.path, "utf8") });
        this.#addon.listen(fd, backlog);
      } catch (err) {
        this.#addon.close(fd);
        throw err;
      }
      if (!target.path.startsWith("\0")) this.#path = target.path;
      return fd;
    }
    const six = isIP(target.host) === 6;
    const fd = this.#addon.socket(six ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    try {
      // As libuv does for every TCP listening socket.
      this.#addon.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
      if (target.reusePort) this.#addon.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
      if (six) this.#addon.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, target.ipv6Only ? 1 : 0);
      const where: NativeAddress = six
        ? { family: "inet6", host: target.host, port: target.port }
        : { family: "inet", host: target.host, port: target.port };
      this.#addon.bind(fd, where);
      this.#addon.listen(fd, backlog);
    } catch (err) {
      this.#addon.close(fd);
      throw err;
    }
    return fd;
  }

  /**
   * Accepting failed (out of descriptors, `EMFILE`): the reactor paused the listener. It
   * is reported, and accepting resumes a little later, as libuv's listener goes on, so a
   * flood that used up the descriptors does not end the server's accepting for good.
   */
  #onError(err: Error): void {
    this.emit("error", err);
    const retry = setTimeout(() => {
      if (this.listening) this.#reactor.setReading(this.#id, true);
    }, ACCEPT_RETRY_MS);
    retry.unref();
  }

  #onAccept(fd: number, address: Buffer): void {
    let socket: ReactorSocket;
    try {
      socket = new ReactorSocket(this.#reactor, this.#addon, fd, {
        paused: true,
        remote: address,
      });
    } catch {
      this.#addon.close(fd);
      return;
    }
    this.emit("connection", socket);
  }

  /** The bound address as `net.Server.address()` gives it (a path for a Unix socket). */
  address(): { address: string; family: string; port: number } | string | null {
    if (!this.listening) return null;
    const a = this.#addon.getsockname(this.#fd, false);
    if (a.family === "unix") return a.path.toString("utf8");
    return { address: a.host, family: a.family === "inet6" ? "IPv6" : "IPv4", port: a.port };
  }

  ref(): this {
    this.#ref = true;
    if (this.listening) this.#reactor.ref(this.#id, true);
    return this;
  }

  unref(): this {
    this.#ref = false;
    if (this.listening) this.#reactor.ref(this.#id, false);
    return this;
  }

  /** Stops listening (connections accepted before live on): `'close'` on the next tick. */
  close(callback?: () => void): this {
    if (this.listening) {
      this.listening = false;
      this.#reactor.close(this.#id);
      if (this.#path !== null) {
        try {
          unlinkSync(this.#path);
        } catch {
          // already gone
        }
      }
    }
    process.nextTick(() => {
      this.emit("close");
      callback?.();
    });
    return this;
  }
}
