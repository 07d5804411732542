// From seed 003_84d78c831d5ce5f6 (English, "Sockets in Python"): the simple TCP client that
// sends one greeting to port 8080 and prints the answer.
// Run: npx tsx examples/hello-client.ts [PORT [HOST]]   (defaults 8080 localhost)
import { AF_INET, SOCK_STREAM, socket } from "socketkit";
import { args, print } from "./lib/py.ts";

const [port, host] = args(8080, "localhost");

// Create a socket object
const clientSocket = socket(AF_INET, SOCK_STREAM);

// Connect the socket to the server
await clientSocket.connect([host, port]);

// Send data to the server
await clientSocket.send(Buffer.from("Hello from the client!"));

// Receive data from the server
const data = await clientSocket.recv(1024);
print(`Received data: ${data.toString()}`);

// Close the client socket
await clientSocket.close();
