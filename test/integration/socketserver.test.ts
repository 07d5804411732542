/**
 * The seed's socketserver program (MyTCPHandler, answering each client) serving many
 * clients at once, socketkit's and the seed's own Python client among them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createConnection, SHUT_WR } from "../../src/index.ts";
import { BaseRequestHandler, TCPServer } from "../../src/server/index.ts";
import { python3, seed } from "../helpers/proc.ts";

/** The seed's MyTCPHandler, answering with the upper-cased text as CPython's docs do. */
class MyTCPHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    const data = (await this.request.recv(1024)).toString().trim();
    await this.request.sendall(data.toUpperCase());
  }
}

describe("the seed's MyTCPHandler under concurrent clients", () => {
  it("answers 50 socketkit clients and 5 of the seed's Python clients at once", async () => {
    await using server = await TCPServer.create(["127.0.0.1", 0], MyTCPHandler);
    void server.serveForever();
    const [, port] = server.serverAddress as [string, number];

    const pythonClients = python3()
      ? Array.from({ length: 5 }, (_, i) =>
          seed("handler_client", [String(port), "127.0.0.1"], { stdin: `python ${i}\n` }),
        )
      : [];
    const ours = Array.from({ length: 50 }, async (_, i) => {
      await using s = await createConnection(["127.0.0.1", port], { timeout: 10 });
      await s.sendall(`socketkit ${i}\n`);
      s.shutdown(SHUT_WR);
      return (await s.recv(1024)).toString();
    });
    const replies = await Promise.all(ours);
    replies.forEach((reply, i) => {
      assert.equal(reply, `SOCKETKIT ${i}`);
    });
    for (const [i, p] of pythonClients.entries()) {
      await p.exited; // the seed client loops until its input ends (EOFError)
      assert.match(
        p.stdout().toString(),
        new RegExp(`Sent: python ${i}\\nReceived: PYTHON ${i}\\n`),
      );
    }
    await server.shutdown();
    if (!python3()) console.log("# python3 missing: only socketkit clients were run");
  });
});
