/**
 * socketkit/server: Python's `socketserver`, async.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "socketkit/server";
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = await TCPServer.create(["127.0.0.1", 9999], Echo);
 * await server.serveForever();
 * ```
 * @module
 */
// The native addon's sockets (Unix datagram servers, SO_REUSEPORT on older Node.js lines).
import "../native/register.ts";

export { AccessGate, type AccessGateOptions } from "./access-gate.ts";
export { BaseRequestHandler, type RequestHandlerClass } from "./base-request-handler.ts";
export {
  BaseServer,
  type BaseServerOptions,
  type PendingRequest,
  type ServerStats,
} from "./base-server.ts";
export { DatagramReader } from "./datagram-reader.ts";
export { DatagramRequestHandler } from "./datagram-request-handler.ts";
export { DatagramWriter } from "./datagram-writer.ts";
export { ForkingMixIn } from "./forking-mixin.ts";
export { ForkingTCPServer } from "./forking-tcp-server.ts";
export { ForkingUDPServer } from "./forking-udp-server.ts";
export { StreamRequestHandler } from "./stream-request-handler.ts";
export { TCPServer, type TCPServerOptions } from "./tcp-server.ts";
export { ThreadingMixIn } from "./threading-mixin.ts";
export { ThreadingTCPServer } from "./threading-tcp-server.ts";
export { ThreadingUDPServer } from "./threading-udp-server.ts";
export { ThreadingUnixDatagramServer } from "./threading-unix-datagram-server.ts";
export { ThreadingUnixStreamServer } from "./threading-unix-stream-server.ts";
export { type DatagramRequest, UDPServer, type UDPServerOptions } from "./udp-server.ts";
export { UnixDatagramServer } from "./unix-datagram-server.ts";
export { UnixStreamServer } from "./unix-stream-server.ts";
