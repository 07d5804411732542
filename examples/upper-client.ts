// From seed 001_fe6c79a6c18628cf (Portuguese, "Python - cliente de soquete"): the client
// that sends each typed line to port 5001 and prints the answer; "q" quits.
// Run: npx tsx examples/upper-client.ts [PORT [HOST]]   (defaults 5001 127.0.0.1)
import { socket } from "socketkit";
import { args, closeInput, input, print } from "./lib/py.ts";

const [port, host] = args(5001);
const obj = socket();
await obj.connect([host, port]);
let message = await input("type message: ");
while (message !== null && message !== "q") {
  await obj.send(message);
  const data = (await obj.recv(1024)).toString();
  print(`Received from server: ${data}`);
  message = await input("type message: ");
}
await obj.close();
closeInput();
