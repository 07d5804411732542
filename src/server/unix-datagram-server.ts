import type { Address } from "../core/address.ts";
import { AF_UNIX } from "../core/constants.ts";
import "../native/register.ts";
import type { RequestHandlerClass } from "./base-request-handler.ts";
import { type DatagramRequest, UDPServer, type UDPServerOptions } from "./udp-server.ts";

/**
 * Python's `socketserver.UnixDatagramServer`: a `UDPServer` on an AF_UNIX datagram
 * socket (a path, or an abstract name starting with NUL). Node.js has no Unix datagram
 * sockets: this runs on the socketkit native addon, and raises `UnsupportedError`, with
 * the reason and the fix, when the addon is not built. Replies go to the client's bound
 * address, so a client must bind to get one (as in Python).
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, UnixDatagramServer } from "socketkit/server";
 * class EchoHandler extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.read());
 *   }
 * }
 * const server = await UnixDatagramServer.create("/tmp/echo.sock", EchoHandler);
 * await server.serveForever();
 * ```
 */
export class UnixDatagramServer extends UDPServer {
  constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: UDPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, { ...options, addressFamily: AF_UNIX });
  }
}
