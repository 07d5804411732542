import { ForkingMixIn } from "./forking-mixin.ts";
import { UDPServer } from "./udp-server.ts";

/**
 * Python's `socketserver.ForkingUDPServer`, `ForkingMixIn(UDPServer)`: a `UDPServer` whose
 * `workers` option defaults to one process per core. With the native addon each worker
 * reads a socket of its own bound with SO_REUSEPORT (the kernel sends every datagram of
 * one client address to the same worker); without it the workers read the one socket
 * node:cluster makes in the primary. Either way each datagram is handled once, by one
 * worker, and the reply comes from the server's address. Datagrams waiting in a worker's
 * socket when that worker dies are lost with it, as UDP allows.
 *
 * @example
 * ```ts
 * import cluster from "node:cluster";
 * import { DatagramRequestHandler, ForkingUDPServer } from "socketkit/server";
 * class Pid extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(`${process.pid}: ${await this.rfile.read()}`);
 *   }
 * }
 * const server = await ForkingUDPServer.create(["127.0.0.1", 9999], Pid, { workers: 2 });
 * if (cluster.isPrimary) process.once("SIGTERM", () => void server.shutdown());
 * await server.serveForever();
 * ```
 */
export class ForkingUDPServer extends ForkingMixIn(UDPServer) {}
