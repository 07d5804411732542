// Baseline: Deno's own UDP API as a Deno user writes an echo, run by
// `deno run --unstable-net` (Deno.listenDatagram is unstable): receive, send back, again.

// The little of Deno's API used here, for the type checker (Deno's own types are not installed).
declare namespace Deno {
  interface NetAddr {
    transport: "udp";
    hostname: string;
    port: number;
  }
  interface DatagramConn {
    addr: NetAddr;
    receive(p?: Uint8Array): Promise<[Uint8Array, NetAddr]>;
    send(p: Uint8Array, addr: NetAddr): Promise<number>;
  }
  function listenDatagram(options: {
    transport: "udp";
    hostname: string;
    port: number;
  }): DatagramConn;
}

const server = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
console.error(`listening on 127.0.0.1:${server.addr.port}`);
const buf = new Uint8Array(65536);
for (;;) {
  const [data, from] = await server.receive(buf);
  try {
    await server.send(data, from);
  } catch {
    // An earlier echo found the client gone (ECONNREFUSED): UDP drops it.
  }
}
