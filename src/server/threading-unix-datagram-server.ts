import { ThreadingMixIn } from "./threading-mixin.ts";
import { UnixDatagramServer } from "./unix-datagram-server.ts";

/**
 * Python's `socketserver.ThreadingUnixDatagramServer`, `ThreadingMixIn(UnixDatagramServer)`:
 * a `UnixDatagramServer` (on the native addon; it already handles datagrams concurrently)
 * under Python's name, with `daemonThreads` and `blockOnClose` (see {@link ThreadingMixIn}).
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, ThreadingUnixDatagramServer } from "socketkit/server";
 * class Echo extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.read());
 *   }
 * }
 * await using server = await ThreadingUnixDatagramServer.create("/tmp/echo-dgram.sock", Echo);
 * await server.serveForever();
 * ```
 */
export class ThreadingUnixDatagramServer extends ThreadingMixIn(UnixDatagramServer) {}
