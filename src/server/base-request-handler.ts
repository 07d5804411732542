import type { SocketAddress } from "../core/address.ts";
import type { Socket } from "../socket/socket.ts";
import type { BaseServer } from "./base-server.ts";

/**
 * Python's `socketserver.BaseRequestHandler`: one instance per request. The server calls
 * `setup()`, then `handle()`, then `finish()`, which always runs (it is in a `finally`).
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServer } from "socketkit/server";
 * class MyTCPHandler extends BaseRequestHandler {
 *   override async handle() {
 *     const data = await this.request.recv(1024);
 *     await this.request.sendall(data.toString().toUpperCase());
 *   }
 * }
 * await using server = await TCPServer.create(["127.0.0.1", 9999], MyTCPHandler);
 * await server.serveForever();
 * ```
 */
export class BaseRequestHandler<Request = Socket> {
  /** The request: the connected `Socket` for stream servers, for UDP `[data, socket]`. */
  readonly request: Request;
  /** The client's address. */
  readonly clientAddress: SocketAddress;
  /** The server handling this request. */
  readonly server: BaseServer<Request>;

  constructor(request: Request, clientAddress: SocketAddress, server: BaseServer<Request>) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  /** Called before `handle()`; may be overridden. */
  async setup(): Promise<void> {}

  /** Serves the request; override it. */
  async handle(): Promise<void> {}

  /** Called after `handle()`, even when it threw; may be overridden. */
  async finish(): Promise<void> {}

  /**
   * Runs setup, handle and finish, as Python's constructor does (a hook left as the
   * empty default is skipped, which only saves its promise). For the server.
   */
  async run(): Promise<void> {
    if (this.setup !== BaseRequestHandler.prototype.setup) await this.setup();
    try {
      await this.handle();
    } finally {
      if (this.finish !== BaseRequestHandler.prototype.finish) await this.finish();
    }
  }
}

/** A handler class, as servers take it. */
export type RequestHandlerClass<Request> = new (
  request: Request,
  clientAddress: SocketAddress,
  server: BaseServer<Request>,
) => BaseRequestHandler<Request>;
