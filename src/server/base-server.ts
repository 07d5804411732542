import { setTimeout as sleep } from "node:timers/promises";
import { formatAddress, type SocketAddress } from "../core/address.ts";
import {
  AccessListError,
  isDisconnect,
  messageOf,
  SocketError,
  TimeoutError,
} from "../core/errors.ts";
import { LogBudget, stderrLine } from "../core/log-budget.ts";
import { Waiters } from "../socket/waiters.ts";
import { AccessGate } from "./access-gate.ts";
import { BaseRequestHandler, type RequestHandlerClass } from "./base-request-handler.ts";
import { isWorkerOf, REUSEPORT_ENV, WorkerPool } from "./worker-pool.ts";

/** Options every server takes. */
export interface BaseServerOptions {
  /**
   * Seconds `shutdown()` and `close()` let running handlers finish before closing their
   * requests (when `blockOnClose`); `Infinity` waits as long as they run, as Python does.
   * @default 5
   */
  gracePeriod?: number;
  /**
   * Python's `block_on_close`: `shutdown()` and `close()` wait for the running handlers
   * (up to `gracePeriod`, then their requests are closed and they end), and
   * `serveForever()` resolves once they have. When false, they return as soon as the
   * server stops taking requests: running handlers are left to finish on their own, their
   * connections open (still counted in `activeRequests`; a UDP handler replying after
   * `close()` finds the socket closed, which is not reported). In the primary of a
   * `workers` server: whether `shutdown()` and `close()` wait for the workers to exit.
   * @default true
   */
  blockOnClose?: boolean;
  /**
   * Python's `daemon_threads`: requests taken in while it is true are handled as daemon
   * threads are, so the server neither waits for their handlers (`shutdown()`, `close()`
   * and `serveForever()` return without them, whatever `blockOnClose` says) nor keeps the
   * process alive for them: a stream request's connection is unref'd, with the timers of
   * its timeouts, so once the server is closed and nothing else is pending Node.js exits
   * and the handlers end with it. Other handles a handler opens itself (timers, sockets of
   * its own) keep the process alive as Node.js decides.
   * @default false
   */
  daemonThreads?: boolean;
  /**
   * Seconds `handleRequest()` waits for a request before calling `handleTimeout()`
   * (Python's `timeout` attribute); `serveForever()` does not use it.
   * @default null (wait forever)
   */
  timeout?: number | null;
  /** Where `handleError` writes its one line per failure. @default process.stderr */
  log?: (line: string) => void;
  /**
   * IPv4 and IPv6 addresses and CIDR ranges (`"127.0.0.1,10.0.0.0/8"`, `"::1"`; each
   * string may hold several, comma-separated) whose peers are let in; when given, every
   * other peer is refused. Checked before `verifyRequest`, so an override cannot skip it:
   * a refused connection is closed at once, a refused datagram dropped, either counted in
   * `stats.rejected` and logged once per host (bounded). Not for Unix socket servers.
   * @default undefined (every peer is allowed)
   */
  allow?: readonly string[];
  /**
   * Addresses and CIDR ranges whose peers are refused, whatever `allow` says.
   * @default undefined (no peer is denied)
   */
  deny?: readonly string[];
}

/**
 * What `shutdownRequest` returns when a request has nothing to end (UDPServer's, for a
 * datagram): the serve loop then does not wait for it.
 */
export const NOTHING_TO_SHUT_DOWN: Promise<void> = Promise.resolve();

/** A request as `getRequest` returns it. */
export interface PendingRequest<Request> {
  /** The connection (or datagram) to hand to the handler. */
  request: Request;
  /** The peer's address, as `accept()` or `recvfrom()` gave it. */
  clientAddress: SocketAddress;
}

/** Counters a caller can read at any time. */
export interface ServerStats {
  /** Requests taken in (connections accepted, datagrams received). */
  accepted: number;
  /** Requests being handled now. */
  active: number;
  /** Requests refused: over `maxConnections`, or by `verifyRequest`. */
  rejected: number;
  /** Handlers that failed (`handleError` calls). */
  errors: number;
}

/**
 * Python's `socketserver.BaseServer` made async: the server lifecycle as a template
 * method. `serveForever()` gets requests and handles each concurrently (as Python's
 * ThreadingMixIn does) until `shutdown()`. The hooks marked "may be overridden" are there
 * for subclasses, as in CPython.
 */
export abstract class BaseServer<Request> {
  /** The bound address (`[host, port]`, so port 0 shows the chosen port, or a path). */
  serverAddress: SocketAddress;
  /** The handler class instantiated per request. */
  readonly RequestHandlerClass: RequestHandlerClass<Request>;
  /** Seconds `handleRequest()` waits before `handleTimeout()`; null waits forever. */
  timeout: number | null;
  /**
   * Python's `block_on_close`, read when the server stops (see
   * {@link BaseServerOptions.blockOnClose}): the option's value, which a subclass may set
   * as Python's class attribute is set.
   */
  blockOnClose: boolean;
  /**
   * Python's `daemon_threads`, read as each request is taken in (see
   * {@link BaseServerOptions.daemonThreads}): the option's value, which a subclass may set
   * as Python's class attribute is set.
   */
  daemonThreads: boolean;
  readonly #gracePeriod: number;
  /** Where the server writes its one-line notices (stderr unless `log` is given). */
  protected readonly log: (line: string) => void;
  readonly #stats = { accepted: 0, rejected: 0, errors: 0 };
  /** Requests being handled (each request, a socket or a datagram's array, is unique). */
  #active = new Set<Request>();
  /** The active requests taken in under `daemonThreads`: nothing waits for them. */
  readonly #daemons = new Set<Request>();
  /**
   * Requests still running when the server's socket was closed: one failing on a closed
   * socket then (a UDP handler replying) failed by the server's doing, not an error.
   */
  readonly #orphaned = new WeakSet<object>();
  /** The workers, in the primary of a `workers` server. */
  #pool: WorkerPool | null = null;
  /**
   * Requests closed by `shutdown()` past the grace period: their handlers then fail on a
   * closed socket, which is the server's doing, not an error worth a line.
   */
  readonly #cut = new WeakSet<object>();
  #shutdownRequested = false;
  #serving: Promise<void> | null = null;
  #stopped!: () => void;
  #stoppedPromise = new Promise<void>((resolve) => {
    this.#stopped = resolve;
  });
  /** What handlers see as `this.server` (see `#handlerView`). */
  #view: this | null = null;
  readonly #slots = new Waiters();
  /** Lines about routine ends (resets, timeouts): at most 10 per 10 s, the rest counted. */
  readonly #routine: LogBudget;
  /** The `allow`/`deny` check; null when every peer is let in. */
  readonly #gate: AccessGate | null;
  /** The gate is the listening socket's (see {@link checkOnArrival}). */
  #checkedOnArrival = false;

  constructor(
    serverAddress: SocketAddress,
    RequestHandlerClass: RequestHandlerClass<Request>,
    options: BaseServerOptions = {},
  ) {
    this.serverAddress = serverAddress;
    this.RequestHandlerClass = RequestHandlerClass;
    this.timeout = options.timeout ?? null;
    this.blockOnClose = options.blockOnClose ?? true;
    this.daemonThreads = options.daemonThreads ?? false;
    this.#gracePeriod = options.gracePeriod ?? 5;
    this.log = options.log ?? stderrLine;
    this.#gate = AccessGate.create(options, { log: this.log });
    this.#routine = new LogBudget((line) => this.log(line), {
      summary: (n) =>
        `${n} more ${n === 1 ? "client" : "clients"} disconnected or timed out (not logged one by one)`,
    });
    if (this.#gate !== null && typeof serverAddress === "string") {
      throw new AccessListError(
        `Cannot filter the peers of ${formatAddress(serverAddress)}: allow and deny take IP addresses, and Unix socket peers have none`,
      );
    }
  }

  /** Requests being handled now. */
  get activeRequests(): number {
    return this.#active.size;
  }

  /** Accepted, active, rejected and failed requests so far. */
  get stats(): ServerStats {
    return { ...this.#stats, active: this.#active.size };
  }

  /** Counts a refused request; for subclasses that refuse before `verifyRequest`. */
  protected countRejected(): void {
    this.#stats.rejected++;
  }

  /**
   * The `allow`/`deny` check for a stream server's listening socket (its `admit`), counting
   * a refusal; undefined when every peer is let in. A refused peer is then closed as it
   * connects, before a TLS handshake, and the requests that come in are not checked again.
   */
  protected checkOnArrival(): ((peer: SocketAddress) => boolean) | undefined {
    const gate = this.#gate;
    if (gate === null) return undefined;
    this.#checkedOnArrival = true;
    return (peer) => {
      if (gate.admits(peer)) return true;
      this.countRejected();
      return false;
    };
  }

  /**
   * Binds and activates (`bind`), or, in the primary of a `workers` server, forks the
   * workers instead and takes the address they serve; a worker's server stops when the
   * primary says so. For subclasses' `create()`.
   */
  protected async bindOrFork(
    workers: number,
    family: number,
    type: number,
    bind: () => Promise<void>,
  ): Promise<void> {
    if (workers > 1 && !isWorkerOf()) {
      const { pool, address } = await WorkerPool.launch(
        this.serverAddress,
        family,
        type,
        workers,
        this.log,
        this.#gracePeriod,
      );
      this.#pool = pool;
      this.serverAddress = address;
      return;
    }
    await bind();
    if (isWorkerOf()) {
      WorkerPool.serveInWorker(this);
      if (process.env[REUSEPORT_ENV]) WorkerPool.announce(this.serverAddress);
    }
  }

  /**
   * Handles requests until `shutdown()`; resolves after the running handlers finished
   * (or the grace period ran out and their requests were closed), unless `blockOnClose`
   * is false. In the primary of a `workers` server: supervises the workers, restarting any
   * that dies, until they have all exited after `shutdown()`.
   */
  serveForever(): Promise<void> {
    if (this.#pool !== null) return this.#pool.supervise();
    this.#serving ??= this.#loop();
    return this.#serving;
  }

  async #loop(): Promise<void> {
    try {
      while (!this.#shutdownRequested) {
        const pending = await this.#next(null);
        if (pending === "stop") break;
        if (pending === null) continue;
        this.serviceActions();
        this.#start(pending.request, pending.clientAddress);
        // Requests already waiting (a batch of datagrams) start now, without a wait each.
        for (;;) {
          const more = this.#shutdownRequested ? null : this.getRequestNow();
          if (more === null) break;
          this.#stats.accepted++;
          this.serviceActions();
          this.#start(more.request, more.clientAddress);
        }
      }
    } finally {
      if (this.blockOnClose) await this.#drain();
      this.#stopped();
    }
  }

  /** One request, null when there was none (a refusal, a transient error), "stop" when closed. */
  async #next(timeout: number | null): Promise<PendingRequest<Request> | null | "stop"> {
    try {
      const pending = await this.getRequest(timeout);
      if (pending !== null) this.#stats.accepted++;
      return pending;
    } catch (err) {
      if (this.#shutdownRequested) return "stop";
      if (err instanceof SocketError && err.code === "EBADF") return "stop";
      if (err instanceof TimeoutError && timeout !== null) throw err;
      // Out of file descriptors and the like: say so once per failure, breathe, go on.
      this.log(`Cannot get request on ${formatAddress(this.serverAddress)}: ${messageOf(err)}`);
      await sleep(100);
      return null;
    }
  }

  /**
   * Waits up to `timeout` seconds for one request and handles it to the end, or calls
   * `handleTimeout()` when none came (Python's `handle_request`).
   */
  async handleRequest(): Promise<void> {
    let pending: PendingRequest<Request> | null | "stop";
    try {
      pending = await this.#next(this.timeout);
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      await this.handleTimeout();
      return;
    }
    if (pending === null || pending === "stop") return;
    await this.#start(pending.request, pending.clientAddress);
  }

  #start(request: Request, clientAddress: SocketAddress): Promise<void> {
    this.#active.add(request);
    if (this.daemonThreads) {
      this.#daemons.add(request);
      this.unrefRequest(request);
    }
    let admitted: boolean | Promise<boolean>;
    try {
      admitted = this.#admitted(request, clientAddress);
    } catch (err) {
      admitted = Promise.reject(err);
    }
    // The common case, a request let in and the default processRequest, in one async
    // frame: frames count for UDP (a request per datagram).
    if (admitted === true && this.processRequest === BaseServer.prototype.processRequest) {
      return this.#process(request, clientAddress, true);
    }
    return this.#handle(request, clientAddress, admitted);
  }

  /** A request has ended: it no longer counts as active. */
  #ended(request: Request): void {
    this.#active.delete(request);
    this.#daemons.delete(request);
    this.#slots.wake();
  }

  /** Resolves when no request is being handled but daemon ones. */
  async #allDone(): Promise<void> {
    while (this.#active.size > this.#daemons.size) {
      await this.#slots.wait(null, "wait for the handlers");
    }
  }

  /**
   * Waits until fewer than `limit` requests are being handled: a server that must not
   * refuse (UDP) holds back instead, and what it does not read is dropped and counted by
   * its socket. For subclasses.
   */
  protected async waitForCapacity(limit: number): Promise<void> {
    while (this.#active.size >= limit) await this.#slots.wait(null, "wait for a free handler");
  }

  /**
   * Runs one request to the end and takes it off the active set; never rejects, whatever
   * the hooks throw.
   */
  async #handle(
    request: Request,
    clientAddress: SocketAddress,
    admitted: boolean | Promise<boolean>,
  ): Promise<void> {
    try {
      if (admitted === true || (admitted !== false && (await admitted))) {
        if (this.processRequest === BaseServer.prototype.processRequest) {
          await this.#process(request, clientAddress);
        } else await this.processRequest(request, clientAddress);
        return;
      }
      this.#stats.rejected++;
      await this.shutdownRequest(request).catch(() => {});
    } catch (err) {
      this.#reportError(request, clientAddress, err);
      await this.shutdownRequest(request).catch(() => {});
    } finally {
      this.#ended(request);
    }
  }

  /** The access lists, then `verifyRequest` (awaited only when it returns a promise). */
  #admitted(request: Request, clientAddress: SocketAddress): boolean | Promise<boolean> {
    const gate = this.#checkedOnArrival ? null : this.#gate;
    if (gate !== null && !gate.admits(clientAddress)) return false;
    return this.verifyRequest(request, clientAddress);
  }

  /** `handleError`, guarded: an override that throws is logged, never fatal. */
  #reportError(request: Request, clientAddress: SocketAddress, err: unknown): void {
    if (this.#cut.has(request as object)) return;
    if (this.#orphaned.has(request as object) && err instanceof SocketError && err.code === "EBADF")
      return;
    try {
      this.handleError(request, clientAddress, err);
    } catch (secondary) {
      this.log(`handleError failed while reporting ${messageOf(err)}: ${messageOf(secondary)}`);
    }
  }

  /**
   * Waits for the running handlers (daemon ones excepted) for the grace period, then
   * closes their requests and waits for them to end.
   */
  async #drain(): Promise<void> {
    if (this.#active.size === this.#daemons.size) return;
    if (!Number.isFinite(this.#gracePeriod)) {
      await this.#allDone();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#gracePeriod * 1000);
    });
    await Promise.race([this.#allDone(), grace]);
    clearTimeout(timer);
    // Past the grace period: close what is left so the handlers end.
    const left = [...this.#active].filter((r) => !this.#daemons.has(r));
    for (const request of left) this.#cut.add(request as object);
    await Promise.allSettled(left.map((r) => this.closeRequest(r)));
    await this.#allDone();
  }

  /**
   * Stops accepting, lets running handlers finish within the grace period (when
   * `blockOnClose`), and resolves when `serveForever()` has returned. Safe from inside a
   * handler: `this.server.shutdown()` there resolves once accepting has stopped, instead
   * of waiting for itself as Python would. In the primary of a `workers` server: asks
   * every worker to shut down so, and waits for them to exit (when `blockOnClose`).
   */
  async shutdown(): Promise<void> {
    if (this.#pool !== null) return this.#stopWorkers();
    this.#shutdownRequested = true;
    await this.stopAccepting();
    if (this.#serving === null) {
      this.#stopped();
      return;
    }
    await this.#stoppedPromise;
  }

  /** `shutdown()` as a handler calls it: it cannot wait for the handlers, itself among them. */
  #shutdownFromHandler = async (): Promise<void> => {
    this.#shutdownRequested = true;
    await this.stopAccepting();
  };

  /**
   * The server as handlers see it (`this.server`): a view that behaves as the server in
   * every respect (properties, methods, `instanceof`; only `===` tells them apart) but
   * `shutdown()` and `close()`, which there resolve once accepting has stopped instead of
   * waiting for all handlers to finish (Python deadlocks there). A Proxy, not AsyncLocalStorage,
   * because on Node 20 the latter slows every promise in the process.
   */
  #handlerView(): this {
    if (this.#view === null) {
      const bound = new Map<PropertyKey, unknown>();
      this.#view = new Proxy(this, {
        get: (target, prop) => {
          if (prop === "shutdown") return this.#shutdownFromHandler;
          if (prop === "close") return this.#closeFromHandler;
          const value = Reflect.get(target, prop, target);
          if (typeof value !== "function") return value;
          let fn = bound.get(prop);
          if (fn === undefined || (fn as { original?: unknown }).original !== value) {
            fn = Object.assign(value.bind(target), { original: value });
            bound.set(prop, fn);
          }
          return fn;
        },
      });
    }
    return this.#view;
  }

  /** Stops the workers; waits for them to exit when `blockOnClose`. */
  async #stopWorkers(): Promise<void> {
    const stopping = (this.#pool as WorkerPool).stop();
    if (this.blockOnClose) await stopping;
  }

  /**
   * Releases the server's socket (Python's `server_close`): stops taking requests and,
   * when `blockOnClose`, first waits for the running handlers as `shutdown()` does (within
   * the grace period). From inside a handler it does not wait (it would wait for itself).
   * In the primary of a `workers` server, it stops the workers as `shutdown()` does.
   */
  close(): Promise<void> {
    return this.#close(true);
  }

  async #close(wait: boolean): Promise<void> {
    if (this.#pool !== null) await this.#stopWorkers();
    this.#shutdownRequested = true;
    await this.stopAccepting();
    if (wait && this.blockOnClose) {
      if (this.#serving !== null) await this.#stoppedPromise;
      await this.#drain();
    }
    for (const request of this.#active) this.#orphaned.add(request as object);
    await this.serverClose();
    this.#gate?.close();
    this.#routine.flush();
  }

  /** `close()` as a handler calls it: it cannot wait for the handlers, itself among them. */
  #closeFromHandler = (): Promise<void> => this.#close(false);

  /** `await using server = await TCPServer.create(...)` shuts down and closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
    await this.close();
  }

  // ------------------------------------------------------------ hooks

  /**
   * Waits for the next request, at most `timeout` seconds (null: no limit, a
   * `TimeoutError` past it); resolves null when it took one in but refused it. For
   * subclasses.
   */
  abstract getRequest(timeout: number | null): Promise<PendingRequest<Request> | null>;

  /**
   * A request that is already waiting, taken without waiting, or null (the default: the
   * serve loop then calls `getRequest`). A server whose requests come in batches (UDP)
   * starts a whole batch at once this way. For subclasses.
   */
  protected getRequestNow(): PendingRequest<Request> | null {
    return null;
  }

  /**
   * Makes `getRequest` stop taking requests, without touching running handlers (a TCP
   * server closes its listening socket; a UDP server, which replies through its socket,
   * only stops reading). For subclasses.
   */
  protected abstract stopAccepting(): Promise<void>;

  /** Releases the server's socket once nothing uses it. For subclasses. */
  protected abstract serverClose(): Promise<void>;

  /** Closes a request's connection at once (used past the grace period). For subclasses. */
  protected abstract closeRequest(request: Request): Promise<void>;

  /**
   * Lets the process exit while this request is handled (`daemonThreads`): a stream
   * server unrefs the connection. Datagram requests have nothing of their own to unref.
   * For subclasses.
   */
  protected unrefRequest(_request: Request): void {}

  /**
   * Returns false to reject the request (it is closed at once). Runs after the `allow` /
   * `deny` check, only for peers it let in. May be overridden.
   */
  verifyRequest(_request: Request, _clientAddress: SocketAddress): boolean | Promise<boolean> {
    return true;
  }

  /** Handles one request: `finishRequest` then `shutdownRequest`. May be overridden. */
  processRequest(request: Request, clientAddress: SocketAddress): Promise<void> {
    return this.#process(request, clientAddress);
  }

  /**
   * The default `processRequest`, which `#handle` calls directly when it is not
   * overridden. Async frames count for UDP (a request per datagram): the default
   * `finishRequest` and the handler's `run` (unless a subclass overrides them) run inline
   * here, and a `shutdownRequest` with nothing to do (it returns
   * {@link NOTHING_TO_SHUT_DOWN}) is not awaited. `tracked`: `#start` called it for an
   * active request, which it ends. Never rejects.
   */
  async #process(request: Request, clientAddress: SocketAddress, tracked = false): Promise<void> {
    try {
      if (this.finishRequest !== BaseServer.prototype.finishRequest) {
        await this.finishRequest(request, clientAddress);
      } else {
        const h = this.#handler(request, clientAddress);
        if (h.run !== BaseRequestHandler.prototype.run) await h.run();
        else {
          // BaseRequestHandler.run, inline.
          if (h.setup !== BaseRequestHandler.prototype.setup) await h.setup();
          try {
            await h.handle();
          } finally {
            if (h.finish !== BaseRequestHandler.prototype.finish) await h.finish();
          }
        }
      }
    } catch (err) {
      this.#reportError(request, clientAddress, err);
    } finally {
      try {
        const done = this.shutdownRequest(request);
        if (done !== NOTHING_TO_SHUT_DOWN) await done.catch(() => {});
      } catch (err) {
        this.#reportError(request, clientAddress, err); // it threw instead of rejecting
      }
      if (tracked) this.#ended(request);
    }
  }

  /** Instantiates the handler class and runs it. May be overridden. */
  async finishRequest(request: Request, clientAddress: SocketAddress): Promise<void> {
    await this.#handler(request, clientAddress).run();
  }

  #handler(request: Request, clientAddress: SocketAddress): BaseRequestHandler<Request> {
    return new this.RequestHandlerClass(request, clientAddress, this.#handlerView());
  }

  /** Ends a request after its handler returned. May be overridden. */
  abstract shutdownRequest(request: Request): Promise<void>;

  /**
   * Reports a handler failure in one line (routine disconnects and timeouts without a
   * stack) and keeps serving. May be overridden.
   */
  handleError(_request: Request, clientAddress: SocketAddress, err: unknown): void {
    this.#stats.errors++;
    const who = formatAddress(clientAddress) || "client";
    // Routine ends are bounded: a flood of resets must not flood the log.
    if (isDisconnect(err) || err instanceof TimeoutError)
      this.#routine.write(`${who}: ${messageOf(err)}`);
    else {
      const stack =
        err instanceof Error && err.stack ? err.stack.split("\n").slice(1, 3).join(" |") : "";
      this.log(`Error while handling ${who}: ${messageOf(err)}${stack ? ` |${stack}` : ""}`);
    }
  }

  /** Called by `handleRequest()` when no request came within `timeout`. May be overridden. */
  async handleTimeout(): Promise<void> {}

  /** Called once per request taken in, in the serve loop. May be overridden. */
  serviceActions(): void {}
}
