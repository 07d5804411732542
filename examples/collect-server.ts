// From seed 002_93193ca43ad4c799 (Russian, "Сокеты в Python"): a server on port 1090 that
// collects everything one client sends, in 1024-byte portions, and prints the list.
// Run: npx tsx examples/collect-server.ts [PORT [HOST]]   (defaults 1090 127.0.0.1; the
// seed binds "" = every interface: pass "" as HOST to do the same)
import { socket } from "socketkit";
import { args, print, ready } from "./lib/py.ts";

const [port, host] = args(1090);

const s = socket();
await s.bind([host, port]);
s.listen(1);
ready(s);
const [conn] = await s.accept();

const data: Buffer[] = [];
for (;;) {
  const packet = await conn.recv(1024);
  if (packet.length === 0) break;
  data.push(packet);
}
print(data);

await conn.close();
await s.close();
