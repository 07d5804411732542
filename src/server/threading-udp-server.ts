import { ThreadingMixIn } from "./threading-mixin.ts";
import { UDPServer } from "./udp-server.ts";

/**
 * Python's `socketserver.ThreadingUDPServer`, `ThreadingMixIn(UDPServer)`. A `UDPServer`
 * already handles datagrams concurrently (up to `maxConcurrentRequests`), so this is a
 * `UDPServer` under Python's name, with `daemonThreads` and `blockOnClose` (see
 * {@link ThreadingMixIn}).
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, ThreadingUDPServer } from "socketkit/server";
 * class Echo extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.read());
 *   }
 * }
 * await using server = await ThreadingUDPServer.create(["127.0.0.1", 9999], Echo);
 * await server.serveForever();
 * ```
 */
export class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}
