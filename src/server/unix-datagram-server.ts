import type { Address } from "../core/address.ts";
import { UnsupportedError } from "../core/errors.ts";
import type { RequestHandlerClass } from "./base-request-handler.ts";
import { type DatagramRequest, UDPServer, type UDPServerOptions } from "./udp-server.ts";

/**
 * Python's `socketserver.UnixDatagramServer`. Node.js has no Unix datagram sockets:
 * this needs the socketkit native addon, and raises `UnsupportedError` without it.
 */
export class UnixDatagramServer extends UDPServer {
  constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: UDPServerOptions = {},
  ) {
    throw new UnsupportedError(
      `Cannot create UnixDatagramServer at ${String(serverAddress)}: Node.js has no Unix datagram sockets and the socketkit native addon is not installed`,
    );
    // biome-ignore lint/correctness/noUnreachable: keeps the subclass constructor well-formed
    super(serverAddress, RequestHandlerClass, options);
  }
}
