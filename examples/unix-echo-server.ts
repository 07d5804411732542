// In the spirit of seed 003_84d78c831d5ce5f6 (English, "Sockets in Python", Unix domain
// sockets): a Unix stream server that echoes each client until it half-closes.
// Run: npx tsx examples/unix-echo-server.ts [PATH]   (default /tmp/socketfile)
import { rmSync } from "node:fs";
import { AF_UNIX, SOCK_STREAM, type Socket, socket } from "socketkit";
import { ready } from "./lib/py.ts";

const path = process.argv[2] ?? "/tmp/socketfile";
const server = socket(AF_UNIX, SOCK_STREAM);
await server.bind(path);
server.listen();
ready(server);
process.on("exit", () => rmSync(path, { force: true }));
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));

async function echo(conn: Socket): Promise<void> {
  try {
    for (;;) {
      const data = await conn.recv(65536);
      if (data.length === 0) break;
      await conn.sendall(data);
    }
  } finally {
    await conn.close();
  }
}

for await (const [conn] of server) {
  echo(conn).catch((err) => process.stderr.write(`${err.message}\n`));
}
