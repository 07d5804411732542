// socketkit's Socket API as a Python program would use it: accept, then recv/sendall.
import { createServer, formatAddress, type Socket } from "../../src/index.ts";

async function echo(conn: Socket): Promise<void> {
  try {
    for (;;) {
      const data = await conn.recv(65536);
      if (data.length === 0) break;
      await conn.sendall(data);
    }
  } catch {
    // peer went away
  } finally {
    await conn.close();
  }
}

const server = await createServer(["127.0.0.1", 0]);
process.stderr.write(`listening on ${formatAddress(server.getsockname())}\n`);
for await (const [conn] of server) void echo(conn);
