// The echo service (RFC 862) on socketkit/server: every byte a client sends comes
// straight back, for any number of clients at once.
// Run: npx tsx examples/echo-server.ts [--host 127.0.0.1] [--port 5000]
import { parseArgs } from "node:util";
import { formatAddress } from "socketkit";
import { BaseRequestHandler, TCPServer } from "socketkit/server";

class EchoHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    for (;;) {
      const data = await this.request.recv(65536);
      if (data.length === 0) return;
      await this.request.sendall(data);
    }
  }
}

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "5000" },
  },
});
const server = await TCPServer.create([values.host as string, Number(values.port)], EchoHandler);
const where = formatAddress(server.serverAddress);
process.stderr.write(`listening on ${where} (tcp)\n`);
process.stderr.write(
  `socketkit echo service.\nTry it: nc ${where.replace(/:(\d+)$/, " $1")}   or   telnet ${where.replace(/:(\d+)$/, " $1")}   — Ctrl-C stops the server.\n`,
);
const stop = () => void server.shutdown().then(() => server.close());
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
await server.serveForever();
