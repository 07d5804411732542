import cluster from "node:cluster";
import { statSync } from "node:fs";
import { createServer, type ListenOptions, type Socket as NetSocket, type Server } from "node:net";
import { dirname, resolve } from "node:path";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { type SocketError, toSocketError } from "../core/errors.ts";
import { Fifo } from "../core/fifo.ts";
import { handleFd, READABLE, type Readiness } from "./readiness.ts";
import { Waiters } from "./waiters.ts";

/** How long a TLS peer has to finish its handshake. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Connections waiting for `accept()` beyond this many are closed at once and counted. */
export const DEFAULT_ACCEPT_QUEUE = 511;

/** Whether a connection that has just arrived may stay; one that may not is closed unread. */
export type Admit = (socket: NetSocket) => boolean;

/**
 * A listening stream socket over `net.Server` (or the native I/O path's look-alike, made
 * by `make`). Connections the kernel completes wait,
 * not yet reading (their bytes stay in the kernel as with Python), until `accept()`
 * takes them; the wait queue is bounded.
 */
export class Listener implements Readiness {
  readonly server: Server;
  readonly #pending = new Fifo<NetSocket>();
  readonly acceptors = new Waiters();
  #error: unknown = null;
  closed = false;
  /** Connections closed because the accept queue was full. */
  dropped = 0;
  /** Connections closed on arrival because `admit` refused them. */
  refused = 0;
  /** TLS handshakes that failed (TLS listeners only). */
  tlsFailures = 0;
  /** Most connections left waiting for `accept()`. */
  queueLimit = DEFAULT_ACCEPT_QUEUE;
  label: string;

  private constructor(server: Server, label: string, secure: boolean, admit: Admit | null) {
    this.server = server;
    this.label = label;
    if (admit !== null) {
      // Ahead of every other listener: a TLS server's would start the handshake, which a
      // refused peer must not get (nor cost the server).
      server.prependListener("connection", (socket: NetSocket) => {
        if (admitted(admit, socket)) return;
        this.refused++;
        socket.destroy();
      });
    }
    server.on(secure ? "secureConnection" : "connection", (socket: NetSocket) =>
      this.#onConnection(socket),
    );
    // A client that fails the handshake is its own problem: count it, keep serving.
    if (secure) {
      server.on("tlsClientError", (_err: Error, socket: NetSocket) => {
        this.tlsFailures++;
        // A failed handshake is closed here: on a handshake timeout Node leaves it open.
        socket.destroy();
      });
    }
    server.on("error", (err) => {
      if (this.#error === null) this.#error = err;
      this.acceptors.wake();
    });
  }

  /**
   * Binds and listens. Rejects with the mapped error (`AddressInUseError`...) naming
   * `label` when the address cannot be had.
   */
  static open(
    options: ListenOptions | { fd: number; backlog?: number },
    label: string,
    tls?: TlsOptions,
    admit: Admit | null = null,
    make?: () => Server,
  ): Promise<Listener> {
    // A TLS server hands over connections after the handshake ('secureConnection'); their
    // bytes wait in the stream, unread, until accept() as with plain connections. A peer
    // that connects and never finishes the handshake is cut after 10 s (Node's 120 s
    // default held a slot for two minutes), unless the caller's options say otherwise.
    const server =
      tls === undefined
        ? (make?.() ?? createServer({ allowHalfOpen: true, pauseOnConnect: true }))
        : createTlsServer({
            handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
            ...tls,
            allowHalfOpen: true,
          });
    const listener = new Listener(server, label, tls !== undefined, admit);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        server.off("listening", onListening);
        server.close();
        reject(toSocketError(unixPathError(err, options), `bind ${label}`));
      };
      const onListening = () => {
        server.off("error", onError);
        resolve(listener);
      };
      server.once("error", onError);
      server.once("listening", onListening);
      if ("fd" in options && cluster.isWorker && make === undefined) {
        listenOwnSocketInWorker(server, options);
      } else server.listen(options);
    });
  }

  /** Whether the listening socket keeps the process alive (Node's `ref`/`unref`). */
  setRef(ref: boolean): void {
    if (ref) this.server.ref();
    else this.server.unref();
    this.acceptors.refTimers = ref;
  }

  #onConnection(socket: NetSocket): void {
    if (socket.destroyed) return; // refused by `admit`
    socket.on("error", ignorePendingError);
    // Node asks for the peer's address when first read and keeps it: read it now, while
    // the connection is surely there (a peer that resets before accept() leaves none).
    void socket.remoteAddress;
    if (this.closed || this.#pending.length >= this.queueLimit) {
      this.dropped++;
      socket.destroy();
      return;
    }
    this.#pending.push(socket);
    this.acceptors.wake();
  }

  /** The next waiting connection, or undefined. */
  take(): NetSocket | undefined {
    for (let socket = this.#pending.shift(); socket !== undefined; socket = this.#pending.shift()) {
      socket.off("error", ignorePendingError);
      // One that died while waiting (reset by its peer) is not handed out.
      if (socket.destroyed) continue;
      return socket;
    }
    return undefined;
  }

  /**
   * For `select`: `accept` would not wait when a live connection is waiting, or it would
   * raise. Never writable, as Linux reports a listening socket.
   */
  ready(events: number): number {
    if ((events & READABLE) === 0) return 0;
    // One that died while waiting is dropped now, so a ready listener has one to hand out.
    for (let s = this.#pending.peek(); s?.destroyed; s = this.#pending.peek()) {
      this.#pending.shift();
      s.off("error", ignorePendingError);
    }
    return this.#pending.length > 0 || this.#error !== null || this.closed ? READABLE : 0;
  }

  /** For `select`: wakes when a connection arrives, an error happens or the socket closes. */
  watch(events: number, wake: () => void): () => void {
    return (events & READABLE) !== 0 ? this.acceptors.watch(wake) : noChange;
  }

  /** The listening descriptor, or -1. */
  fileno(): number {
    return handleFd(this.server);
  }

  /** Takes the server error (EMFILE and the like), if one happened: it is reported once. */
  takeError(action: string): SocketError | null {
    if (this.#error === null) return null;
    const err = toSocketError(this.#error, `${action} ${this.label}`);
    this.#error = null;
    return err;
  }

  /** Stops listening and closes every connection not yet accepted. */
  close(): Promise<void> {
    this.closed = true;
    for (let s = this.take(); s !== undefined; s = this.take()) s.destroy();
    this.acceptors.wake();
    // net.Server's close callback waits for accepted connections to end too; a closed
    // listening socket in Python does not, so resolve once the listening handle is gone.
    if (this.server.listening) this.server.close();
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/** `admit`'s answer; one that throws refuses (an event handler must not throw). */
function admitted(admit: Admit, socket: NetSocket): boolean {
  try {
    return admit(socket);
  } catch {
    return false;
  }
}

/**
 * libuv reports a Unix socket path in a folder that does not exist as EACCES ("permission
 * denied", as Windows would); the kernel's answer is ENOENT (or ENOTDIR when a part of the
 * path is a file), and that is what the error says.
 */
function unixPathError(err: Error, options: ListenOptions | { fd: number }): Error {
  const path = "path" in options ? options.path : undefined;
  if ((err as NodeJS.ErrnoException).code !== "EACCES" || typeof path !== "string") return err;
  if (path.startsWith("\0")) return err;
  let code: string;
  try {
    code = statSync(dirname(resolve(path))).isDirectory() ? "" : "ENOTDIR";
  } catch (statErr) {
    code = (statErr as NodeJS.ErrnoException).code ?? "";
  }
  if (code !== "ENOENT" && code !== "ENOTDIR") return err;
  return Object.assign(new Error(`listen ${code} ${path}`), { code, cause: err });
}

function noChange(): void {}

function ignorePendingError(): void {
  // A connection that fails before accept() is reported by its first operation.
}

/**
 * Listens on a socket of the worker's own (an SO_REUSEPORT descriptor) in a node:cluster
 * worker. Node 20 has no `exclusive` for `listen({ fd })`, so a worker would ask the
 * primary to share *its* descriptor of that number instead; for the length of this call
 * the worker passes for the primary, which makes the listen local, as `exclusive` does.
 */
function listenOwnSocketInWorker(server: Server, options: { fd: number; backlog?: number }): void {
  const c = cluster as { isPrimary: boolean };
  const was = c.isPrimary;
  c.isPrimary = true;
  try {
    server.listen(options);
  } finally {
    c.isPrimary = was;
  }
}
