import type { TlsOptions } from "node:tls";
import type { Address, SocketAddress } from "../core/address.ts";
import { familyOfAddress } from "../core/address.ts";
import {
  AF_INET,
  AF_INET6,
  SHUT_WR,
  SO_REUSEADDR,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { kCloseNow } from "../socket/internal.ts";
import { Socket } from "../socket/socket.ts";
import type { RequestHandlerClass } from "./base-request-handler.ts";
import { BaseServer, type BaseServerOptions, type PendingRequest } from "./base-server.ts";
import { isWorkerOf, REUSEPORT_ENV } from "./worker-pool.ts";

/** Seconds a connection may send and receive nothing, when `idleTimeout` is not given. */
export const DEFAULT_IDLE_TIMEOUT = 300;

/** Options of {@link TCPServer}. */
export interface TCPServerOptions extends BaseServerOptions {
  /** Address family; guessed from the address when left out. @default AF_INET */
  addressFamily?: number;
  /** Set SO_REUSEADDR (Python's `allow_reuse_address`). @default true */
  allowReuseAddress?: boolean;
  /** Listen backlog (Python's `request_queue_size`). @default 5 */
  requestQueueSize?: number;
  /** Connections handled at once; more are closed at once and counted. @default 10000 */
  maxConnections?: number;
  /**
   * Seconds a connection may send and receive nothing before it is closed (the defence
   * against clients that connect and say nothing). @default 300
   */
  idleTimeout?: number | null;
  /** Longest line `rfile.readline()` returns. @default 65536 */
  maxLineLength?: number;
  /** Serve TLS with these `node:tls` options (`key`, `cert`...). @default undefined */
  tls?: TlsOptions;
  /**
   * Processes serving the port together (node:cluster). The script runs once per worker:
   * in the primary, `create()` forks the workers and `serveForever()` supervises them,
   * restarting any that dies; `shutdown()` stops them all. With the native addon each
   * worker listens on a socket of its own (SO_REUSEPORT); without it they share the
   * primary's. @default 1 (no workers; `ForkingTCPServer`: one per core)
   */
  workers?: number;
}

/**
 * Python's `socketserver.TCPServer`, async and concurrent: every connection gets its own
 * handler at once (as with ThreadingMixIn), so thousands of clients are served together.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "socketkit/server";
 * class Upper extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase());
 *   }
 * }
 * const server = await TCPServer.create(["127.0.0.1", 0], Upper);
 * console.log(server.serverAddress); // ["127.0.0.1", 41234]
 * await server.serveForever();
 * ```
 */
export class TCPServer extends BaseServer<Socket> {
  /** The listening socket (unused in the primary of a `workers` server). */
  readonly socket: Socket;
  /** The options the server was made with. */
  readonly options: TCPServerOptions;
  #closed = false;

  /** Use {@link TCPServer.create}, which binds and activates as Python's constructor does. */
  constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<Socket>,
    options: TCPServerOptions = {},
  ) {
    super(serverAddress as SocketAddress, RequestHandlerClass, options);
    this.options = options;
    const family = options.addressFamily ?? this.defaultFamily(serverAddress);
    this.socket = new Socket(family, SOCK_STREAM);
  }

  /** The family for an address when `addressFamily` is not given. For subclasses. */
  protected defaultFamily(address: Address): number {
    const f = familyOfAddress(address);
    return f === AF_INET6 ? AF_INET6 : AF_INET;
  }

  /** Creates, binds and activates the server (in a `workers` primary: starts the workers). */
  static async create<T extends TCPServer>(
    this: new (
      a: Address,
      h: RequestHandlerClass<Socket>,
      o?: TCPServerOptions,
    ) => T,
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<Socket>,
    options: TCPServerOptions = {},
  ): Promise<T> {
    const server = new this(serverAddress, RequestHandlerClass, options);
    try {
      // The server's own options: a subclass (ForkingMixIn) may have added to them.
      await server.bindOrFork(
        server.options.workers ?? 1,
        server.socket.family,
        SOCK_STREAM,
        async () => {
          await server.serverBind();
          server.serverActivate();
        },
      );
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /** Binds the socket and records the real address. May be overridden. */
  async serverBind(): Promise<void> {
    if (this.options.allowReuseAddress ?? true) this.socket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    const shared = isWorkerOf() ? process.env[REUSEPORT_ENV] : undefined;
    const address =
      shared && Array.isArray(this.serverAddress)
        ? ([(this.serverAddress as [string, number])[0], Number(shared)] as Address)
        : (this.serverAddress as Address);
    await this.socket.bind(address, {
      tls: this.options.tls,
      reusePort: shared !== undefined,
      admit: this.checkOnArrival(),
    });
    this.serverAddress = this.socket.getsockname();
  }

  /** Starts listening. May be overridden. */
  serverActivate(): void {
    this.socket.listen(this.options.requestQueueSize ?? 5);
  }

  /** The idle timeout connections get, in seconds: `options.idleTimeout` or its default. */
  get idleTimeout(): number | null {
    return this.options.idleTimeout === undefined ? DEFAULT_IDLE_TIMEOUT : this.options.idleTimeout;
  }

  override async getRequest(timeout: number | null = null): Promise<PendingRequest<Socket> | null> {
    this.socket.settimeout(timeout);
    const [request, clientAddress] = await this.socket.accept();
    if (this.activeRequests >= (this.options.maxConnections ?? 10_000)) {
      this.countRejected();
      await request.close();
      return null;
    }
    request.setIdleTimeout(this.idleTimeout);
    return { request, clientAddress };
  }

  /** The listening socket's descriptor, as Python's `TCPServer.fileno()`. */
  fileno(): number {
    return this.socket.fileno();
  }

  protected override async stopAccepting(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.socket.close();
  }

  protected override serverClose(): Promise<void> {
    return this.stopAccepting();
  }

  protected override closeRequest(request: Socket): Promise<void> {
    // The request ends here, files made by its handler open or not.
    return request[kCloseNow]();
  }

  protected override unrefRequest(request: Socket): void {
    request.unref();
  }

  /**
   * Half-closes, then closes: the FIN follows everything the handler wrote, so replies are
   * never cut. May be overridden.
   */
  override async shutdownRequest(request: Socket): Promise<void> {
    try {
      request.shutdown(SHUT_WR);
    } catch {
      // already closed or never connected
    }
    await request[kCloseNow]();
  }
}
