// From seed 001_fe6c79a6c18628cf (Portuguese, "Python - servidor de soquete"): the server
// on port 5001 that upper-cases and prints what the client sends, then answers with the
// line typed at its prompt. It ends when the client closes.
// Run: npx tsx examples/upper-server.ts [PORT [HOST]]   (defaults 5001 127.0.0.1)
import { socket } from "socketkit";
import { args, closeInput, input, print, ready, str } from "./lib/py.ts";

const [port, host] = args(5001);
const server = socket();
await server.bind([host, port]);
server.listen();
ready(server);

const [conn, addr] = await server.accept();
print(`Connection from: ${str(addr)}`);
for (;;) {
  let data = (await conn.recv(1024)).toString();
  if (!data) break;
  data = data.toUpperCase();
  print(` from client: ${data}`);
  const reply = await input("type message: ");
  if (reply === null) break; // end of input: Python would raise EOFError here
  await conn.send(reply);
}
await conn.close();
await server.close();
closeInput();
