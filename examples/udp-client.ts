// From seed 003_84d78c831d5ce5f6 (English, "Sockets in Python", datagram sockets): send
// b'Hello, World' to port 12345 over UDP, then wait up to 2 s for a reply and print it.
// Run: npx tsx examples/udp-client.ts [PORT [HOST]]   (defaults 12345 localhost)
// Pair it with examples/udp-echo-server.ts.
import { AF_INET, SOCK_DGRAM, socket, TimeoutError } from "socketkit";
import { args, print } from "./lib/py.ts";

const [port, host] = args(12345, "localhost");
const s = socket(AF_INET, SOCK_DGRAM);
await s.sendto(Buffer.from("Hello, World"), [host, port]);
s.settimeout(2);
try {
  const [data] = await s.recvfrom(65535);
  print(data);
} catch (err) {
  if (!(err instanceof TimeoutError)) throw err;
}
await s.close();
