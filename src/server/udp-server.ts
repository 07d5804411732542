import type { Address, SocketAddress } from "../core/address.ts";
import { familyOfAddress } from "../core/address.ts";
import { AF_INET, AF_INET6, SO_REUSEADDR, SOCK_DGRAM, SOL_SOCKET } from "../core/constants.ts";
import { kTakeDatagram } from "../socket/internal.ts";
import { Socket } from "../socket/socket.ts";
import type { RequestHandlerClass } from "./base-request-handler.ts";
import { BaseServer, type BaseServerOptions, type PendingRequest } from "./base-server.ts";

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
      await server.serverBind();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /** Binds the socket and records the real address. May be overridden. */
  async serverBind(): Promise<void> {
    if (this.options.allowReuseAddress) this.socket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    await this.socket.bind(this.serverAddress as Address);
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
    const queued = this.socket[kTakeDatagram](maxPacketSize);
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
  override async shutdownRequest(): Promise<void> {}
}
