// From seed 004_0c892d9270f0f8ea (Spanish, "Programación de red Python"): the client that
// connects to the thank-you server and prints what it receives, as bytes.
// Run: npx tsx examples/thanks-client.ts [PORT [HOST]]   (defaults 40674 127.0.0.1)
import { socket } from "socketkit";
import { args, print } from "./lib/py.ts";

const [port, host] = args(40674);

// Create a socket object
const s = socket();

// connect to the server on local computer
await s.connect([host, port]);

// receive data from the server
print(await s.recv(1024));

// close the connection
await s.close();
