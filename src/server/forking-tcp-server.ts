import { ForkingMixIn } from "./forking-mixin.ts";
import { TCPServer } from "./tcp-server.ts";

/**
 * Python's `socketserver.ForkingTCPServer`, `ForkingMixIn(TCPServer)`: a `TCPServer` whose
 * `workers` option defaults to one process per core (see {@link ForkingMixIn}).
 *
 * @example
 * ```ts
 * import cluster from "node:cluster";
 * import { BaseRequestHandler, ForkingTCPServer } from "socketkit/server";
 * class Pid extends BaseRequestHandler {
 *   override async handle() {
 *     await this.request.sendall(`served by process ${process.pid}\n`);
 *   }
 * }
 * const server = await ForkingTCPServer.create(["127.0.0.1", 9999], Pid);
 * if (cluster.isPrimary) process.once("SIGTERM", () => void server.shutdown());
 * await server.serveForever();
 * ```
 */
export class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
