// From seed 001_fe6c79a6c18628cf (Portuguese, "Transferência de arquivos Python com módulo
// Socket"): the server that waits for a client's greeting, then sends it a file in
// 1024-byte pieces, printing each, and closes.
// Run: npx tsx examples/file-server.ts [PORT [HOST [FILE]]]   (defaults 5001 127.0.0.1 test.txt)
import { open } from "node:fs/promises";
import { socket } from "socketkit";
import { args, print, ready, repr } from "./lib/py.ts";

const [port, host] = args(5001);
const filename = process.argv[4] ?? "test.txt";
const server = socket();
await server.bind([host, port]);
server.listen();
ready(server);
const [conn] = await server.accept();
await conn.recv(1024); // the client's greeting
const f = await open(filename, "r");
const buf = Buffer.alloc(1024);
for (;;) {
  const { bytesRead } = await f.read(buf, 0, 1024, null);
  if (bytesRead === 0) break;
  const l = Buffer.from(buf.subarray(0, bytesRead));
  // The seed calls send(); sendall() is what it means: every byte, even under load.
  await conn.sendall(l);
  print("Sent ", repr(l));
}
await f.close();

print("File transferred");
await conn.close();
await server.close();
