// socketkit's socketserver layer for UDP: a UDPServer whose handler writes the datagram back.
import { formatAddress } from "../../src/index.ts";
import { DatagramRequestHandler, UDPServer } from "../../src/server/index.ts";

class Echo extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.read());
  }
}

const server = await UDPServer.create(["127.0.0.1", 0], Echo, { log: () => {} });
process.stderr.write(`listening on ${formatAddress(server.serverAddress)}\n`);
await server.serveForever();
