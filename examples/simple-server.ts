// From seed 001_fe6c79a6c18628cf (Portuguese, "Python - Programação de soquete"): the first
// server snippet, which accepts one connection and prints who asked.
// Run: npx tsx examples/simple-server.ts [PORT [HOST]]   (defaults 12345 localhost)
import { socket } from "socketkit";
import { args, print, ready, str } from "./lib/py.ts";

const [port, host] = args(12345, "localhost");

const server = socket();
await server.bind([host, port]);
server.listen();
ready(server);
const [client, addr] = await server.accept();
print(`connection request from: ${str(addr)}`);
await client.close();
await server.close();
