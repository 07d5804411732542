// From seed 000_cf7b26e26c16bf44 (Portuguese, "Biblioteca socket"): the client of the
// two-terminal conversation. Each line typed goes to the server and its answer is
// printed; typing "bye" ends the conversation.
// Run: npx tsx examples/reply-client.ts [PORT [HOST]]   (defaults 5000 127.0.0.1)
import { socket } from "socketkit";
import { args, closeInput, input, print } from "./lib/py.ts";

const [port, host] = args(5000);

const clientSocket = socket(); // instantiate
await clientSocket.connect([host, port]); // connect to the server

let message = await input(" -> "); // take input

while (message !== null && message.toLowerCase().trim() !== "bye") {
  await clientSocket.send(message); // send message
  const data = (await clientSocket.recv(1024)).toString(); // receive response

  print(`Received from server: ${data}`); // show in terminal

  message = await input(" -> "); // again take input
}

await clientSocket.close(); // close the connection
closeInput();
