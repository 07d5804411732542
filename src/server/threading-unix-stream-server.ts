import { ThreadingMixIn } from "./threading-mixin.ts";
import { UnixStreamServer } from "./unix-stream-server.ts";

/**
 * Python's `socketserver.ThreadingUnixStreamServer`, `ThreadingMixIn(UnixStreamServer)`:
 * a `UnixStreamServer` (which already handles every connection concurrently) under
 * Python's name, with `daemonThreads` and `blockOnClose` (see {@link ThreadingMixIn}).
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, ThreadingUnixStreamServer } from "socketkit/server";
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = await ThreadingUnixStreamServer.create("/tmp/echo.sock", Echo);
 * await server.serveForever();
 * ```
 */
export class ThreadingUnixStreamServer extends ThreadingMixIn(UnixStreamServer) {}
