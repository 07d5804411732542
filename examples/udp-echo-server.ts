// In the spirit of seed 003_84d78c831d5ce5f6 (English, "Sockets in Python", datagram
// sockets): a UDP server that sends every datagram back to whoever sent it.
// Run: npx tsx examples/udp-echo-server.ts [PORT [HOST]]   (defaults 12345 localhost)
import { AF_INET, SOCK_DGRAM, socket } from "socketkit";
import { args, ready } from "./lib/py.ts";

const [port, host] = args(12345, "localhost");
const s = socket(AF_INET, SOCK_DGRAM);
await s.bind([host, port]);
ready(s);
for (;;) {
  const [data, addr] = await s.recvfrom(65535);
  await s.sendto(data, addr);
}
