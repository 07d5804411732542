// From seed 001_fe6c79a6c18628cf (Portuguese, "Transferência de arquivos Python com módulo
// Socket"): the client that greets the file server and writes everything it receives to
// recv.txt until the server closes.
// Run: npx tsx examples/file-client.ts [PORT [HOST [FILE]]]   (defaults 5001 127.0.0.1 recv.txt)
import { open } from "node:fs/promises";
import { socket } from "socketkit";
import { args, print } from "./lib/py.ts";

const [port, host] = args(5001);
const filename = process.argv[4] ?? "recv.txt";
const s = socket();
await s.connect([host, port]);
await s.send("Hello server!");
const f = await open(filename, "w");
for (;;) {
  print("receiving data...");
  const data = await s.recv(1024);
  if (data.length === 0) break;
  await f.write(data);
}
await f.close();
print("Successfully received");
await s.close();
print("connection closed");
