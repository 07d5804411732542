// From seed 003_84d78c831d5ce5f6 (English, "Sockets in Python", Unix domain sockets): a
// client of a Unix stream socket that sends a greeting, half-closes, and prints the reply.
// Run: npx tsx examples/unix-client.ts [PATH]   (default /tmp/socketfile)
// Pair it with examples/unix-echo-server.ts.
import { AF_UNIX, SHUT_WR, SOCK_STREAM, socket } from "socketkit";
import { print } from "./lib/py.ts";

const path = process.argv[2] ?? "/tmp/socketfile";
const s = socket(AF_UNIX, SOCK_STREAM);
await s.connect(path);
await s.sendall(Buffer.from("Hello from the client!"));
s.shutdown(SHUT_WR);
const chunks: Buffer[] = [];
for (;;) {
  const data = await s.recv(1024);
  if (data.length === 0) break;
  chunks.push(data);
}
print(`Received data: ${Buffer.concat(chunks).toString()}`);
await s.close();
