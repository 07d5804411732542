// socketkit's Socket API receiving a stream and dropping it: accept, then recv until EOF.
import { createServer, formatAddress, type Socket } from "../../src/index.ts";

async function sink(conn: Socket): Promise<void> {
  try {
    while ((await conn.recv(65536)).length > 0);
  } catch {
    // peer went away
  } finally {
    await conn.close();
  }
}

const server = await createServer(["127.0.0.1", 0]);
process.stderr.write(`listening on ${formatAddress(server.getsockname())}\n`);
for await (const [conn] of server) void sink(conn);
