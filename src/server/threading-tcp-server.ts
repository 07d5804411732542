import { TCPServer } from "./tcp-server.ts";
import { ThreadingMixIn } from "./threading-mixin.ts";

/**
 * Python's `socketserver.ThreadingTCPServer`, `ThreadingMixIn(TCPServer)`. A `TCPServer`
 * already handles every connection concurrently, so this is a `TCPServer` under Python's
 * name, with the threading options Python's is known for: `daemonThreads` and
 * `blockOnClose` (see {@link ThreadingMixIn}).
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, ThreadingTCPServer } from "socketkit/server";
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * // Handlers still running at close() are left to finish on their own, and do not keep
 * // the process alive.
 * const server = await ThreadingTCPServer.create(["127.0.0.1", 9999], Echo, {
 *   daemonThreads: true,
 *   blockOnClose: false,
 * });
 * process.once("SIGTERM", () => void server.close());
 * await server.serveForever();
 * ```
 */
export class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
