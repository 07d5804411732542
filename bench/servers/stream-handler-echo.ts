// socketkit's socketserver as the seed would use it: TCPServer with a StreamRequestHandler
// that writes back every line it reads.
import { formatAddress } from "../../src/index.ts";
import { StreamRequestHandler, TCPServer } from "../../src/server/index.ts";

class Echo extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

const server = await TCPServer.create(["127.0.0.1", 0], Echo, {
  log: () => {},
  requestQueueSize: 1024,
});
process.stderr.write(`listening on ${formatAddress(server.serverAddress)}\n`);
await server.serveForever();
