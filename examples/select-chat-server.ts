// The classic single-threaded chat server of the Python tutorials ("chat_server.py": one
// select.select() loop over the listening socket and every connection), ported line by
// line to socketkit/select.
//
// What a client sends goes to every other client as `[HOST:PORT] text`, and back to the
// sender as `[you] text`: the tutorials' clients that wait for an answer after each line
// (test/fixtures/seeds/reply_client.py) get one, and see the others' lines with their
// next answer. A client joining is announced to the others (`[HOST:PORT] entered our
// chatting room`), and so is one leaving (`Client (HOST, PORT) is offline`).
//
// Changes from the Python original: select() waits for something to happen instead of
// polling with timeout 0 in a busy loop; what a client sends is sent on as it is, with a
// newline added if it has none, and no "\r" in front (it redrew the original client's
// prompt); a client that leaves is closed, and it is the one named as offline (the
// original named the last client to join); the server also prints who left. As in the
// original, sending waits for the kernel to take the bytes: a client that stops reading
// for megabytes holds everyone up (a server for the wild would set a timeout on sends).
// Run: npx tsx examples/select-chat-server.ts [PORT [HOST]]   (defaults 9009 127.0.0.1)
// Try: python3 test/fixtures/seeds/reply_client.py 9009 127.0.0.1   (in two terminals)
import {
  AF_INET,
  SO_REUSEADDR,
  SOCK_STREAM,
  SOL_SOCKET,
  type Socket,
  type SocketAddress,
  socket,
} from "socketkit";
import { select } from "socketkit/select";
import { args, print, ready } from "./lib/py.ts";

const [PORT, HOST] = args(9009);
const SOCKET_LIST: Socket[] = [];
const RECV_BUFFER = 4096;
// Each client's address, kept: a connection its peer reset has no name left to ask.
const ADDRESSES = new Map<Socket, SocketAddress>();

/** `[HOST:PORT]` of a client, as the original writes it. */
function nameOf(addr: SocketAddress | undefined): string {
  const [host, port] = addr as [string, number];
  return `${host}:${port}`;
}

async function chatServer(): Promise<void> {
  const serverSocket = socket(AF_INET, SOCK_STREAM);
  serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  await serverSocket.bind([HOST, PORT]);
  serverSocket.listen(10);

  // add server socket object to the list of readable connections
  SOCKET_LIST.push(serverSocket);

  print(`Chat server started on port ${(serverSocket.getsockname() as [string, number])[1]}`);
  ready(serverSocket);

  for (;;) {
    // get the list sockets which are ready to be read through select
    const [readyToRead] = await select(SOCKET_LIST, [], []);

    for (const sock of readyToRead) {
      // a new connection request received
      if (sock === serverSocket) {
        const [sockfd, addr] = await serverSocket.accept();
        SOCKET_LIST.push(sockfd);
        ADDRESSES.set(sockfd, addr);
        const [host, port] = addr as [string, number];
        print(`Client (${host}, ${port}) connected`);

        await broadcast(serverSocket, sockfd, `[${nameOf(addr)}] entered our chatting room\n`);
      }
      // a message from a client, not a new connection
      else {
        // a client that an earlier broadcast found gone this round is already closed
        if (!SOCKET_LIST.includes(sock)) continue;
        // process data received from client,
        try {
          // receiving data from the socket.
          const data = await sock.recv(RECV_BUFFER);
          if (data.length > 0) {
            // there is something in the socket
            const text = data.toString().endsWith("\n") ? data.toString() : `${data}\n`;
            await broadcast(serverSocket, sock, `[${nameOf(ADDRESSES.get(sock))}] ${text}`);
            await sendTo(sock, `[you] ${text}`);
          } else {
            // at this stage, no data means probably the connection has been broken
            await offline(serverSocket, sock);
          }
        } catch {
          // exception
          await offline(serverSocket, sock);
        }
      }
    }
  }
}

/** The client is gone: drop it, close it, and tell the others. */
async function offline(serverSocket: Socket, sock: Socket): Promise<void> {
  const [host, port] = ADDRESSES.get(sock) as [string, number];
  await remove(sock);
  print(`Client (${host}, ${port}) is offline`);
  await broadcast(serverSocket, sock, `Client (${host}, ${port}) is offline\n`);
}

async function remove(sock: Socket): Promise<void> {
  const at = SOCKET_LIST.indexOf(sock);
  if (at >= 0) SOCKET_LIST.splice(at, 1);
  ADDRESSES.delete(sock);
  await sock.close();
}

/** Sends to one client; a broken connection is dropped (its departure is told by the loop). */
async function sendTo(sock: Socket, message: string): Promise<void> {
  try {
    await sock.sendall(message);
  } catch {
    // broken socket connection
    await remove(sock);
  }
}

// broadcast chat messages to all connected clients
async function broadcast(serverSocket: Socket, sock: Socket, message: string): Promise<void> {
  for (const s of [...SOCKET_LIST]) {
    // send the message only to peer
    if (s !== serverSocket && s !== sock) await sendTo(s, message);
  }
}

await chatServer();
