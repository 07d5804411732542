// socketkit's socketserver layer: a TCPServer with a BaseRequestHandler echo.
import { formatAddress } from "../../src/index.ts";
import { BaseRequestHandler, TCPServer } from "../../src/server/index.ts";

class Echo extends BaseRequestHandler {
  override async handle(): Promise<void> {
    for (;;) {
      const data = await this.request.recv(65536);
      if (data.length === 0) return;
      await this.request.sendall(data);
    }
  }
}

const server = await TCPServer.create(["127.0.0.1", 0], Echo, {
  log: () => {},
  // The idle benchmark holds 10,100 connections; the default limit is 10,000.
  maxConnections: 100_000,
});
process.stderr.write(`listening on ${formatAddress(server.serverAddress)}\n`);
await server.serveForever();
