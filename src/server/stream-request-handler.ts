import type { BufferedReader } from "../socket/buffered-reader.ts";
import type { Writer } from "../socket/writer.ts";
import { BaseRequestHandler } from "./base-request-handler.ts";
import type { TCPServer } from "./tcp-server.ts";

/**
 * Python's `socketserver.StreamRequestHandler`: `rfile` reads the connection (lines,
 * exact counts) and `wfile` writes to it; `finish()` flushes `wfile`.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "socketkit/server";
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     const line = await this.rfile.readline();
 *     await this.wfile.write(line);
 *   }
 * }
 * await using server = await TCPServer.create(["127.0.0.1", 9999], Echo);
 * await server.serveForever();
 * ```
 */
export class StreamRequestHandler extends BaseRequestHandler {
  /** The connection's reading side. */
  rfile!: BufferedReader;
  /** The connection's writing side. */
  wfile!: Writer;

  override async setup(): Promise<void> {
    const maxLineLength = (this.server as TCPServer).options?.maxLineLength;
    this.rfile = this.request.makefile("r", maxLineLength ? { maxLineLength } : {});
    this.wfile = this.request.makefile("w");
  }

  /** Flushes and closes `wfile`, then closes `rfile` (Python's `finish`). */
  override async finish(): Promise<void> {
    try {
      await this.wfile.close();
    } catch {
      // The peer is gone; nothing left to flush to.
    }
    await this.rfile.close();
  }
}
