// From seed 003_84d78c831d5ce5f6 (English, "Sockets in Python"): the simple TCP server on
// port 8080 that greets each client once and closes the connection.
// Run: npx tsx examples/hello-server.ts [PORT [HOST]]   (defaults 8080 localhost)
import { AF_INET, SOCK_STREAM, socket } from "socketkit";
import { args, print, ready, repr } from "./lib/py.ts";

const [port, host] = args(8080, "localhost");

// Create a socket object
const serverSocket = socket(AF_INET, SOCK_STREAM);

// Bind the socket to a public host and a port
await serverSocket.bind([host, port]);

// Become a server socket
serverSocket.listen(5);

print("Server is listening on port 8080"); // as the seed prints, whatever the port
ready(serverSocket);

for (;;) {
  // Accept connections from outside
  const [clientSocket, address] = await serverSocket.accept();
  print(`Connection from ${repr(address)}`);

  // Receive data from the client
  const data = await clientSocket.recv(1024);
  print(`Received data: ${data.toString()}`);

  // Send data to the client
  await clientSocket.send(Buffer.from("Hello from the server!"));

  // Close the client socket
  await clientSocket.close();
}
