// From seed 004_0c892d9270f0f8ea (Spanish, "Programación de red Python"): a server that
// thanks every client that connects, then closes the connection.
// Run: npx tsx examples/thanks-server.ts [PORT [HOST]]   (defaults 40674 127.0.0.1; the
// seed binds "" = every interface: pass "" as HOST to do the same)
import { socket } from "socketkit";
import { args, print, ready } from "./lib/py.ts";

const [port, host] = args(40674);

// next create a socket object
const s = socket();
print("Socket successfully created");

// Next bind to the port
await s.bind([host, port]);
print(`socket binded to ${port}`);

// put the socket into listening mode
s.listen(5);
print("socket is listening");
ready(s);

// a forever loop until we interrupt it or an error occurs
for (;;) {
  // Establish connection with client.
  const [c, addr] = await s.accept();
  print("Got connection from", addr);

  // send a thank you message to the client.
  await c.send("Thank you for connecting");

  // Close the connection with the client
  await c.close();
}
