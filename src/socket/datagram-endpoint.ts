import { createSocket, type Socket as DgramSocket, type RemoteInfo } from "node:dgram";
import { formatAddress } from "../core/address.ts";
import { type SocketError, toSocketError } from "../core/errors.ts";
import { Fifo } from "../core/fifo.ts";
import { handleFd, READABLE, type Readiness, WRITABLE } from "./readiness.ts";
import { Waiters } from "./waiters.ts";

/** Options of {@link DatagramEndpoint}. */
export interface DatagramEndpointOptions {
  /** Most datagrams held unread; more are dropped and counted. @default 4096 */
  maxQueuedDatagrams?: number;
  /** Most bytes held unread; more are dropped and counted. @default 4194304 (4 MiB) */
  maxQueuedBytes?: number;
  /** Set SO_REUSEADDR before binding. @default false */
  reuseAddr?: boolean;
  /** IPV6_V6ONLY for udp6. @default false */
  ipv6Only?: boolean;
  /** Set SO_REUSEPORT before binding (Node.js 22.12 and later). @default false */
  reusePort?: boolean;
}

/** A received datagram and who sent it. */
export interface Datagram {
  data: Buffer;
  from: RemoteInfo;
}

/**
 * A UDP socket over `dgram.Socket` with a bounded receive queue: whole datagrams (up to
 * 65507 bytes) are kept whole, and what arrives while the queue is full is dropped and
 * counted, as a kernel buffer would, instead of growing the process.
 */
export class DatagramEndpoint implements Readiness {
  readonly socket: DgramSocket;
  readonly readers = new Waiters();
  readonly #queue = new Fifo<Datagram>();
  #queuedBytes = 0;
  readonly #maxDatagrams: number;
  readonly #maxBytes: number;
  #error: unknown = null;
  bound = false;
  #binding = false;
  connected = false;
  closed = false;
  /** Datagrams dropped because the queue was full. */
  dropped = 0;

  constructor(type: "udp4" | "udp6", options: DatagramEndpointOptions = {}) {
    this.#maxDatagrams = options.maxQueuedDatagrams ?? 4096;
    this.#maxBytes = options.maxQueuedBytes ?? 4 * 1024 * 1024;
    this.socket = createSocket({
      type,
      reuseAddr: options.reuseAddr ?? false,
      ipv6Only: options.ipv6Only ?? false,
      ...(options.reusePort ? { reusePort: true } : {}),
    });
    this.socket.on("message", (data, from) => this.#onMessage(data, from));
    this.socket.on("error", (err) => {
      // A bind failure is the bind call's to report, not the next recvfrom's.
      if (this.#error === null && !this.#binding) this.#error = err;
      this.readers.wake();
    });
    this.socket.on("listening", () => {
      this.bound = true;
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.readers.wake();
    });
  }

  #onMessage(data: Buffer, from: RemoteInfo): void {
    if (
      this.#queue.length >= this.#maxDatagrams ||
      this.#queuedBytes + data.length > this.#maxBytes
    ) {
      this.dropped++;
      return;
    }
    this.#queue.push({ data, from });
    this.#queuedBytes += data.length;
    this.readers.wake();
  }

  /** Whether the socket keeps the process alive (Node's `ref`/`unref`). */
  setRef(ref: boolean): void {
    if (ref) this.socket.ref();
    else this.socket.unref();
    this.readers.refTimers = ref;
  }

  /** The oldest unread datagram, or undefined. */
  take(): Datagram | undefined {
    const d = this.#queue.shift();
    if (d !== undefined) this.#queuedBytes -= d.data.length;
    return d;
  }

  /**
   * For `select`: `recvfrom` would not wait when a datagram is queued, or it would raise;
   * sending never waits (Node.js queues what the kernel cannot take yet).
   */
  ready(events: number): number {
    let ready = events & WRITABLE;
    if (this.#queue.length > 0 || this.#error !== null || this.closed) ready |= events & READABLE;
    return ready;
  }

  /** For `select`: wakes when a datagram or an error arrives, or the socket closes. */
  watch(events: number, wake: () => void): () => void {
    return (events & READABLE) !== 0 ? this.readers.watch(wake) : noChange;
  }

  /**
   * The descriptor, or -1 before the socket is bound or connected. node:dgram keeps its
   * handle behind a symbol of its own, not as `_handle`.
   */
  fileno(): number {
    const sock = this.socket as unknown as Record<symbol, { handle?: unknown } | undefined>;
    const state = Object.getOwnPropertySymbols(sock).find(
      (s) => String(s) === "Symbol(state symbol)",
    );
    return state === undefined ? -1 : handleFd({ _handle: sock[state]?.handle });
  }

  /** Takes the stored error, if any, as a `SocketError` for `action`. */
  takeError(action: string): SocketError | null {
    if (this.#error === null) return null;
    const err = toSocketError(this.#error, action);
    this.#error = null;
    return err;
  }

  /**
   * Binds; rejects with the mapped error (`AddressInUseError`...). `shared`: in a
   * node:cluster worker, use the primary's socket for the address (every worker that
   * binds it reads from the one socket) instead of one of the worker's own.
   */
  bind(host: string, port: number, action: string, shared = false): Promise<void> {
    this.#binding = true;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.socket.off("listening", onListening);
        reject(toSocketError(err, action));
      };
      const onListening = () => {
        this.socket.off("error", onError);
        resolve();
      };
      // Prepend so this bind failure is not also stored for the next recvfrom.
      this.socket.prependOnceListener("error", onError);
      this.socket.once("listening", onListening);
      try {
        this.socket.bind({ port, address: host, exclusive: !shared });
      } catch (err) {
        this.socket.off("error", onError);
        this.socket.off("listening", onListening);
        reject(toSocketError(err, action));
      }
    }).finally(() => {
      this.#binding = false;
    });
  }

  /** Connects (sets the default destination and filters senders). */
  connect(host: string, port: number, action: string): Promise<void> {
    if (this.connected) {
      // Python re-connects a datagram socket to the new peer; Node needs a disconnect first.
      this.socket.disconnect();
      this.connected = false;
    }
    return new Promise<void>((resolve, reject) => {
      try {
        this.socket.connect(port, host, (err?: Error) => {
          if (err) reject(toSocketError(err, action));
          else {
            this.connected = true;
            resolve();
          }
        });
      } catch (err) {
        reject(toSocketError(err, action));
      }
    });
  }

  /**
   * Sends one datagram; resolves with its length once the kernel has it. `action` names
   * the operation in an error (by default "send to HOST:PORT", made only on failure).
   */
  send(data: Buffer, host: string | undefined, port: number | undefined, action?: string) {
    return new Promise<number>((resolve, reject) => {
      const done = (err: Error | null) => {
        if (err) reject(toSocketError(err, action ?? sendAction(host, port)));
        else resolve(data.length);
      };
      try {
        if (host === undefined) this.socket.send(data, done);
        else this.socket.send(data, port, host, done);
      } catch (err) {
        reject(toSocketError(err, action ?? sendAction(host, port)));
      }
    });
  }

  /** Closes the socket and drops what is queued. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.#queue.clear();
    this.#queuedBytes = 0;
    this.readers.wake();
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

function noChange(): void {}

function sendAction(host: string | undefined, port: number | undefined): string {
  return host === undefined ? "send" : `send to ${formatAddress([host, port ?? 0])}`;
}
