import type { Address, SocketAddress } from "../core/address.ts";
import { familyOfAddress, formatAddress } from "../core/address.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { UnsupportedError } from "../core/errors.ts";
import { Socket } from "../socket/socket.ts";
import type { RequestHandlerClass } from "./base-request-handler.ts";
import {
  BaseServer,
  type BaseServerOptions,
  NOTHING_TO_SHUT_DOWN,
  type PendingRequest,
} from "./base-server.ts";
import { isWorkerOf, REUSEPORT_ENV } from "./worker-pool.ts";

/** A UDP request: the datagram and the server's socket, as in Python. */
export type DatagramRequest = [data: Buffer, socket: Socket];

/** Options of {@link UDPServer}. */
export interface UDPServerOptions extends BaseServerOptions {
  /** Address family; guessed from the address when left out. @default AF_INET */
  addressFamily?: number;
  /** Set SO_REUSEADDR. @default false (as Python's UDPServer) */
  allowReuseAddress?: boolean;
  /** Longest datagram read; longer ones are cut (Python's `max_packet_size`). @default 8192 */
  maxPacketSize?: number;
  /**
   * Datagrams handled at once. At the limit the server stops reading; the socket's bounded
   * queue then drops what arrives, and counts it (`socket.droppedDatagrams`). @default 1024
   */
  maxConcurrentRequests?: number;
  /**
   * Processes serving the port together (node:cluster), as with `TCPServer`: the script
   * runs once per worker; in the primary, `create()` forks the workers and
   * `serveForever()` supervises them. With the native addon each worker reads a socket of
   * its own (SO_REUSEPORT: the kernel sends all datagrams of one client address to one
   * worker); without it the workers read the one socket node:cluster makes in the
   * primary, each datagram going to whichever worker reads first. Either way every
   * datagram is handled once and its reply comes from the server's address. Not for
   * Unix datagram sockets, which neither way can share (`UnsupportedError`).
   * @default 1 (no workers; `ForkingUDPServer`: one per core)
   */
  workers?: number;
}

/**
 * Python's `socketserver.UDPServer`: each datagram is a request `[data, socket]`.
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "socketkit/server";
 * class Upper extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write((await this.rfile.read()).toString().toUpperCase());
 *   }
 * }
 * const server = await UDPServer.create(["127.0.0.1", 0], Upper);
 * await server.serveForever();
 * ```
 */
export class UDPServer extends BaseServer<DatagramRequest> {
  /** The bound datagram socket the server reads requests from and replies on. */
  readonly socket: Socket;

  /** The socket's descriptor, as Python's `UDPServer.fileno()`. */
  fileno(): number {
    return this.socket.fileno();
  }

  /** The options the server was made with. */
  readonly options: UDPServerOptions;
  #closed = false;
  #stopping = false;
  /**
   * Ends the receive that is waiting, when `shutdown()` asks the loop to stop. A fresh
   * one per receive: racing every receive against one long-lived promise would pile a
   * reaction on it per datagram, memory that is only freed at shutdown.
   */
  #wakeStop: (() => void) | null = null;

  constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: UDPServerOptions = {},
  ) {
    super(serverAddress as SocketAddress, RequestHandlerClass, options);
    this.options = options;
    const family =
      options.addressFamily ?? (familyOfAddress(serverAddress) === AF_INET6 ? AF_INET6 : AF_INET);
    this.socket = new Socket(family, SOCK_DGRAM);
  }

  /** Creates and binds the server. */
  static async create<T extends UDPServer>(
    this: new (
      a: Address,
      h: RequestHandlerClass<DatagramRequest>,
      o?: UDPServerOptions,
    ) => T,
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: UDPServerOptions = {},
  ): Promise<T> {
    const server = new this(serverAddress, RequestHandlerClass, options);
    try {
      // The server's own options: a subclass (ForkingMixIn) may have added to them.
      const workers = server.options.workers ?? 1;
      if (workers > 1 && server.socket.family === AF_UNIX) {
        throw new UnsupportedError(
          `Cannot serve ${formatAddress(server.serverAddress)} from ${workers} worker processes: a Unix datagram socket can be shared neither by node:cluster nor with SO_REUSEPORT (use workers: 1)`,
        );
      }
      await server.bindOrFork(workers, server.socket.family, SOCK_DGRAM, () => server.serverBind());
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /**
   * Binds the socket and records the real address (in a worker: its own SO_REUSEPORT
   * socket, or the primary's, see `workers`). May be overridden.
   */
  async serverBind(): Promise<void> {
    const reusePort = isWorkerOf() ? process.env[REUSEPORT_ENV] : undefined;
    // SO_REUSEPORT first: it hands the socket over to a native one, which takes the rest.
    if (reusePort !== undefined) this.socket.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    if (this.options.allowReuseAddress) this.socket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    if (reusePort !== undefined && Array.isArray(this.serverAddress)) {
      await this.socket.bind([(this.serverAddress as [string, number])[0], Number(reusePort)]);
    } else if (isWorkerOf() && this.socket.family !== AF_UNIX) {
      await this.socket.bind(this.serverAddress as Address, { shared: true });
    } else await this.socket.bind(this.serverAddress as Address);
    this.serverAddress = this.socket.getsockname();
  }

  override async getRequest(
    timeout: number | null = null,
  ): Promise<PendingRequest<DatagramRequest> | null> {
    const limit = this.options.maxConcurrentRequests ?? 1024;
    if (this.activeRequests >= limit) await this.waitForCapacity(limit);
    if (this.#stopping) return null;
    const maxPacketSize = this.options.maxPacketSize ?? 8192;
    // Under load a datagram is usually waiting: take it without a promise or a race.
    const queued = this.socket.recvfromNow(maxPacketSize);
    if (queued !== undefined)
      return { request: [queued[0], this.socket], clientAddress: queued[1] };
    this.socket.settimeout(timeout);
    // Race the read against shutdown: the socket stays open for handlers still replying.
    const reading = this.socket.recvfrom(maxPacketSize);
    const stop = new Promise<null>((resolve) => {
      this.#wakeStop = () => resolve(null);
    });
    const got = await Promise.race([reading, stop]);
    this.#wakeStop = null;
    if (got === null) {
      reading.catch(() => {}); // settled by close() later
      return null;
    }
    const [data, clientAddress] = got;
    return { request: [data, this.socket], clientAddress };
  }

  /** A datagram already received, when a handler is free for it (see `maxConcurrentRequests`). */
  protected override getRequestNow(): PendingRequest<DatagramRequest> | null {
    if (this.#stopping || this.activeRequests >= (this.options.maxConcurrentRequests ?? 1024))
      return null;
    const queued = this.socket.recvfromNow(this.options.maxPacketSize ?? 8192);
    return queued === undefined
      ? null
      : { request: [queued[0], this.socket], clientAddress: queued[1] };
  }

  protected override async stopAccepting(): Promise<void> {
    this.#stopping = true;
    this.#wakeStop?.();
  }

  protected override async serverClose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.socket.close();
  }

  protected override async closeRequest(): Promise<void> {}

  /** Nothing to close per datagram. */
  override shutdownRequest(): Promise<void> {
    return NOTHING_TO_SHUT_DOWN;
  }
}
