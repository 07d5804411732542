// From seed 003_84d78c831d5ce5f6 (English, "Sockets in Python"): the complete example's
// server on port 12345, which prints each client's message and answers "Message received".
// Run: npx tsx examples/message-server.ts [PORT [HOST]]   (defaults 12345 localhost)
// Any client works, e.g. examples/hello-client.ts 12345.
import { AF_INET, SOCK_STREAM, socket } from "socketkit";
import { args, print, ready, repr } from "./lib/py.ts";

async function startServer(port: number, host: string): Promise<void> {
  const serverSocket = socket(AF_INET, SOCK_STREAM);
  await serverSocket.bind([host, port]);
  serverSocket.listen(5);
  print("Server is listening on port 12345"); // as the seed prints, whatever the port
  ready(serverSocket);

  for (;;) {
    const [clientSocket, addr] = await serverSocket.accept();
    print(`Connection from ${repr(addr)}`);

    const message = (await clientSocket.recv(1024)).toString();
    print(`Received message: ${message}`);

    await clientSocket.send("Message received");
    await clientSocket.close();
  }
}

const [port, host] = args(12345, "localhost");
await startServer(port, host);
