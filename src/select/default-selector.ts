import { ArgumentError, SelectorKeyError, SocketError } from "../core/errors.ts";
import { kReadiness } from "../socket/internal.ts";
import { Socket } from "../socket/socket.ts";
import { Waiters } from "../socket/waiters.ts";
import { EVENT_READ, EVENT_WRITE } from "./events.ts";
import { SelectorMapping } from "./selector-mapping.ts";
import { selectorTimeoutMs, waitReady } from "./wait-ready.ts";

/**
 * What a selector holds for one registered socket (Python's `selectors.SelectorKey`):
 * frozen; `modify` makes a new one.
 *
 * @example
 * ```ts
 * import { createServer } from "socketkit";
 * import { DefaultSelector, EVENT_READ, type SelectorKey } from "socketkit/select";
 * const server = await createServer(["127.0.0.1", 0]);
 * using selector = new DefaultSelector<string>();
 * const key: SelectorKey<string> = selector.register(server, EVENT_READ, "listener");
 * console.log(key.fileobj === server, key.events, key.data); // true 1 "listener"
 * await server.close();
 * ```
 */
export interface SelectorKey<T = unknown> {
  /** The registered socket. */
  readonly fileobj: Socket;
  /**
   * The descriptor under the socket when it was registered, where Node.js shows it
   * (connected and listening stream sockets, native sockets), else -1. socketkit keys its
   * selectors by socket, not by descriptor.
   */
  readonly fd: number;
  /** What is waited for: `EVENT_READ`, `EVENT_WRITE` or both (`|`). */
  readonly events: number;
  /** The data given to `register` or `modify` (Python's `None` is `undefined`). */
  readonly data: T;
}

/**
 * The data argument of `register` and `modify`: optional when the selector's data type
 * takes `undefined` (as Python's `data=None`), required when it does not.
 *
 * @example
 * ```ts
 * import { socket } from "socketkit";
 * import { DefaultSelector, EVENT_READ } from "socketkit/select";
 * const sock = socket();
 * using names = new DefaultSelector<string>();
 * names.register(sock, EVENT_READ, "required: the type has no undefined");
 * using anything = new DefaultSelector(); // data: unknown
 * anything.register(sock, EVENT_READ); // data left out: undefined
 * await sock.close();
 * ```
 */
export type SelectorData<T> = undefined extends T ? [data?: T] : [data: T];

/**
 * Python's `selectors.DefaultSelector` over socketkit sockets: register sockets with the
 * events to wait for (and any data, such as a callback), then `await select()` for the
 * keys of those that are ready. As `select()`, it reads nothing: what made a socket
 * ready is still there for the next `recv()` or `accept()`.
 *
 * A socket closed while registered is no longer watched nor reported (as epoll forgets a
 * closed descriptor), and `unregister` still takes it. Errors are Python's: registering a
 * socket twice, or asking about one not registered, raises `SelectorKeyError`
 * (`ERR_ALREADY_REGISTERED`, `ERR_NOT_REGISTERED`; Python's `KeyError`); events that are
 * not `EVENT_READ`, `EVENT_WRITE` or both raise `ArgumentError` (Python's `ValueError`);
 * a closed socket, or any call but `close` and `getMap` on a closed selector, raises
 * `SocketError` `EBADF`. `using selector = new DefaultSelector()` closes it at the end of
 * the block, as Python's `with`.
 *
 * @typeParam T - the type of the keys' `data`.
 *
 * @example
 * ```ts
 * import { createServer, type Socket } from "socketkit";
 * import { DefaultSelector, EVENT_READ } from "socketkit/select";
 *
 * // The selectors module's echo server: each key's data is what to do when it is ready.
 * type Handler = (sock: Socket) => Promise<void>;
 * using selector = new DefaultSelector<Handler>();
 * const server = await createServer(["127.0.0.1", 0]);
 * const read: Handler = async (conn) => {
 *   const data = await conn.recv(1000);
 *   if (data.length > 0) await conn.sendall(data);
 *   else {
 *     selector.unregister(conn);
 *     await conn.close();
 *   }
 * };
 * selector.register(server, EVENT_READ, async (sock) => {
 *   const [conn] = await sock.accept();
 *   selector.register(conn, EVENT_READ, read);
 * });
 * for (;;) {
 *   const events = await selector.select(60);
 *   if (events.length === 0) break;
 *   for (const [key] of events) await key.data(key.fileobj);
 * }
 * await server.close();
 * ```
 */
export class DefaultSelector<T = unknown> {
  readonly #keys = new Map<Socket, SelectorKey<T>>();
  readonly #mapping = new SelectorMapping<T>(this.#keys);
  /** Wakes a pending `select()` when the registrations change. */
  readonly #changed = new Waiters();
  #closed = false;

  #ensureOpen(action: string): void {
    if (this.#closed) {
      throw new SocketError(`Cannot ${action}: selector is closed`, { code: "EBADF" });
    }
  }

  #checkEvents(events: number, action: string, fileobj: Socket): void {
    if (!Number.isInteger(events) || events <= 0 || (events & ~(EVENT_READ | EVENT_WRITE)) !== 0) {
      throw new ArgumentError(
        `Cannot ${action} ${fileobj}: invalid events ${String(events)} (use EVENT_READ, EVENT_WRITE or both)`,
      );
    }
  }

  #key(fileobj: Socket, action: string): SelectorKey<T> {
    this.#ensureOpen(action);
    const key = this.#keys.get(fileobj);
    if (key === undefined) {
      throw new SelectorKeyError(`Cannot ${action} ${String(fileobj)}: it is not registered`, {
        code: "ERR_NOT_REGISTERED",
      });
    }
    return key;
  }

  /**
   * Registers a socket, to wait for `events` (`EVENT_READ`, `EVENT_WRITE` or both) with
   * `data` attached, and returns its key.
   */
  register(fileobj: Socket, events: number, ...[data]: SelectorData<T>): SelectorKey<T> {
    this.#ensureOpen("register");
    if (!(fileobj instanceof Socket)) {
      throw new ArgumentError(`Cannot register ${String(fileobj)}: not a socketkit Socket`);
    }
    this.#checkEvents(events, "register", fileobj);
    if (fileobj.closed) {
      throw new SocketError(`Cannot register ${fileobj}: socket is closed`, { code: "EBADF" });
    }
    if (this.#keys.has(fileobj)) {
      throw new SelectorKeyError(`Cannot register ${fileobj}: it is already registered`, {
        code: "ERR_ALREADY_REGISTERED",
      });
    }
    const fd = fileobj[kReadiness]().fileno();
    const key: SelectorKey<T> = Object.freeze({ fileobj, fd, events, data: data as T });
    this.#keys.set(fileobj, key);
    this.#changed.wake();
    return key;
  }

  /** Unregisters a socket (closed or not) and returns the key it had. */
  unregister(fileobj: Socket): SelectorKey<T> {
    const key = this.#key(fileobj, "unregister");
    this.#keys.delete(fileobj);
    return key;
  }

  /**
   * Changes what is waited for on a registered socket and its data (left out: `undefined`,
   * as Python's `None`); returns the new key, or the same one when nothing changed.
   */
  modify(fileobj: Socket, events: number, ...[data]: SelectorData<T>): SelectorKey<T> {
    const key = this.#key(fileobj, "modify");
    this.#checkEvents(events, "modify", fileobj);
    if (key.events === events && key.data === data) return key;
    const changed: SelectorKey<T> = Object.freeze({ ...key, events, data: data as T });
    this.#keys.set(fileobj, changed);
    this.#changed.wake();
    return changed;
  }

  /**
   * Waits until some registered sockets are ready and resolves with their keys, each with
   * the events it is ready for (of those registered). `timeout` is in seconds: left out
   * or `null`, it waits as long as it takes; 0 or less polls; when it runs out, the list
   * is empty. Registrations made meanwhile (by other tasks) count at once.
   */
  async select(timeout?: number | null): Promise<[SelectorKey<T>, number][]> {
    this.#ensureOpen("select");
    const ms = selectorTimeoutMs(timeout);
    let ready: [SelectorKey<T>, number][] = [];
    const check = () => {
      ready = [];
      for (const key of this.#keys.values()) {
        if (key.fileobj.closed) continue;
        const events = key.fileobj[kReadiness]().ready(key.events);
        if (events !== 0) ready.push([key, events]);
      }
      return ready.length > 0 || this.#closed;
    };
    const watch = (wake: () => void) => {
      const cancels = [this.#changed.watch(wake)];
      for (const key of this.#keys.values()) {
        if (!key.fileobj.closed) cancels.push(key.fileobj[kReadiness]().watch(key.events, wake));
      }
      return () => {
        for (const cancel of cancels) cancel();
      };
    };
    await waitReady(check, watch, ms);
    return ready;
  }

  /** The key of a registered socket. */
  getKey(fileobj: Socket): SelectorKey<T> {
    return this.#key(fileobj, "getKey");
  }

  /**
   * Every key by its socket: a read-only view that follows the registrations (Python's
   * `get_map()`), empty once the selector is closed.
   */
  getMap(): ReadonlyMap<Socket, SelectorKey<T>> {
    return this.#mapping;
  }

  /**
   * Forgets every registration (the sockets stay open); a pending `select()` resolves
   * with nothing. Calling it again does nothing.
   */
  close(): void {
    this.#closed = true;
    this.#keys.clear();
    this.#changed.wake();
  }

  /** Closes the selector, so `using selector = new DefaultSelector()` releases it. */
  [Symbol.dispose](): void {
    this.close();
  }
}
