import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SHUT_WR } from "../core/constants.ts";
import { LineTooLongError } from "../core/errors.ts";
import { createConnection } from "../socket/create-connection.ts";
import { StreamRequestHandler } from "./stream-request-handler.ts";
import { TCPServer } from "./tcp-server.ts";

describe("StreamRequestHandler", () => {
  it("reads lines with rfile under the server's maxLineLength and flushes wfile in finish", async () => {
    class Lines extends StreamRequestHandler {
      override async handle(): Promise<void> {
        for (;;) {
          try {
            const line = await this.rfile.readline();
            if (line.length === 0) return;
            this.wfile.write(`ok ${line.length}\n`); // not awaited: finish() must flush it
          } catch (err) {
            if (!(err instanceof LineTooLongError)) throw err;
            this.wfile.write("too long\n");
          }
        }
      }
    }
    await using server = await TCPServer.create(["127.0.0.1", 0], Lines, { maxLineLength: 10 });
    void server.serveForever();
    await using c = await createConnection(server.serverAddress as [string, number]);
    await c.sendall(`short\n${"x".repeat(50)}\nafter\n`);
    c.shutdown(SHUT_WR);
    const parts: Buffer[] = [];
    for (let d = await c.recv(1024); d.length > 0; d = await c.recv(1024)) parts.push(d);
    assert.equal(Buffer.concat(parts).toString(), "ok 6\ntoo long\nok 6\n");
    await server.shutdown();
  });
});
