// From seed 001_fe6c79a6c18628cf (Portuguese, "O módulo socketserver"): MyTCPHandler on
// port 9999. For each connection it prints what the client wrote, asks for a reply at
// its prompt, and sends it. The server serves clients until interrupted.
// Run: npx tsx examples/handler-server.ts [PORT [HOST]]   (defaults 9999 localhost)
import { BaseRequestHandler, TCPServer } from "socketkit/server";
import { args, input, print, ready } from "./lib/py.ts";

class MyTCPHandler extends BaseRequestHandler {
  data: Buffer = Buffer.alloc(0);

  override async handle(): Promise<void> {
    this.data = trim(await this.request.recv(1024));
    const [host, port] = this.clientAddress as [string, number];
    print(`${host}:${port} wrote:`);
    print(this.data.toString());
    const msg = await input("enter text .. ");
    if (msg === null) {
      await this.server.shutdown(); // end of input: stop serving
      return;
    }
    await this.request.sendall(Buffer.from(msg));
  }
}

/** Python's bytes.strip(): drop ASCII whitespace at both ends. */
function trim(data: Buffer): Buffer {
  let start = 0;
  let end = data.length;
  const space = (b: number | undefined) =>
    b === 0x20 || (b !== undefined && b >= 0x09 && b <= 0x0d);
  while (start < end && space(data[start])) start++;
  while (end > start && space(data[end - 1])) end--;
  return data.subarray(start, end);
}

const [PORT, HOST] = args(9999, "localhost");
await using server = await TCPServer.create([HOST, PORT], MyTCPHandler);
ready(server.socket);
await server.serveForever();
process.stdin.destroy();
