// Baseline: Deno's own TCP API as a Deno user writes an echo, run by `deno run`:
// `Deno.listen`, then a read/write loop per connection.

// The little of Deno's API used here, for the type checker (Deno's own types are not installed).
declare namespace Deno {
  interface Conn {
    read(p: Uint8Array): Promise<number | null>;
    write(p: Uint8Array): Promise<number>;
    close(): void;
  }
  interface Listener extends AsyncIterable<Conn> {
    addr: { port: number };
  }
  function listen(options: { hostname: string; port: number }): Listener;
}

async function echo(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      for (let off = 0; off < n; ) off += await conn.write(buf.subarray(off, n));
    }
  } catch {
    // peer went away
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.error(`listening on 127.0.0.1:${listener.addr.port}`);
for await (const conn of listener) void echo(conn);
