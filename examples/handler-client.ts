// From seed 001_fe6c79a6c18628cf (Portuguese, "O módulo socketserver"): the client of the
// socketserver example. For every line typed it connects, sends the line plus "\n", and
// prints what it sent and what came back. It ends at the end of input.
// Run: npx tsx examples/handler-client.ts [PORT [HOST]]   (defaults 9999 localhost)
import { AF_INET, SOCK_STREAM, socket } from "socketkit";
import { args, closeInput, input, print } from "./lib/py.ts";

const [PORT, HOST] = args(9999, "localhost");

for (;;) {
  await using sock = socket(AF_INET, SOCK_STREAM);
  // Connect to server and send data
  await sock.connect([HOST, PORT]);
  const data = await input("enter text . . .");
  if (data === null) break; // end of input
  await sock.sendall(Buffer.from(`${data}\n`, "utf8"));

  // Receive data from the server and shut down
  const received = (await sock.recv(1024)).toString("utf8");
  print(`Sent: ${data}`);
  print(`Received: ${received}`);
}
closeInput();
