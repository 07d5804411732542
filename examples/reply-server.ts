// From seed 000_cf7b26e26c16bf44 (Portuguese, "Biblioteca socket"): the server of the
// two-terminal conversation on port 5000. It prints what the client says and sends back
// the line typed at its own prompt; it ends when the client closes.
// Run: npx tsx examples/reply-server.ts [PORT [HOST]]   (defaults 5000 127.0.0.1)
import { socket } from "socketkit";
import { args, closeInput, input, print, ready, str } from "./lib/py.ts";

const [port, host] = args(5000);

const serverSocket = socket();
await serverSocket.bind([host, port]);

// configure how many client the server can listen simultaneously
serverSocket.listen(2);
ready(serverSocket);
const [conn, address] = await serverSocket.accept();
print(`Connection from: ${str(address)}`);
for (;;) {
  // receive data stream. it won't accept data packet greater than 1024 bytes
  const data = (await conn.recv(1024)).toString();
  if (!data) {
    // if data is not received break
    break;
  }
  print(`from connected user: ${data}`);
  const reply = await input(" -> ");
  if (reply === null) break; // end of input: Python would raise EOFError here
  await conn.send(reply); // send data to the client
}

await conn.close(); // close the connection
await serverSocket.close();
closeInput();
