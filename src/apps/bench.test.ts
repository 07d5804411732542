import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { ConnectionRefusedError } from "../core/errors.ts";
import { bench } from "./bench.ts";

/** A node:net server on 127.0.0.1 running `onData` per connection; closed after the test. */
async function server(t: TestContext, onData: (s: Socket, chunk: Buffer) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("data", (c: Buffer) => onData(s, c));
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return (srv.address() as { port: number }).port;
}

describe("bench", () => {
  it("counts verified round trips and latency percentiles against an echo", async (t) => {
    const port = await server(t, (s, c) => s.write(c));
    const r = await bench("127.0.0.1", port, { conns: 4, duration: 0.5 });
    assert.ok(r.roundTrips > 100, `${r.roundTrips} round trips`);
    assert.ok(
      r.latency !== null &&
        r.latency.p50 <= r.latency.p90 &&
        r.latency.p90 <= r.latency.p99 &&
        r.latency.p99 <= r.latency.max,
    );
    assert.equal(r.conns, 4);
  });

  it("fails on an echo that changes a byte", async (t) => {
    let n = 0;
    const port = await server(t, (s, c) => {
      const copy = Buffer.from(c);
      if (++n === 50) copy[0] = (copy[0] as number) ^ 1;
      s.write(copy);
    });
    await assert.rejects(bench("127.0.0.1", port, { duration: 0.5 }), /differ from what was sent/);
  });

  it("measures a stream one way (discard) and both ways (echo, checked)", async (t) => {
    const discard = await server(t, () => {});
    const one = await bench("127.0.0.1", discard, { mode: "stream", duration: 0.3 });
    assert.ok(one.sendRate > 0 && one.bytesReceived === 0);
    const echo = await server(t, (s, c) => s.write(c));
    const both = await bench("127.0.0.1", echo, { mode: "stream", both: true, duration: 0.3 });
    assert.ok(both.receiveRate > 0 && both.sendRate > 0);
  });

  it("ping-pongs UDP datagrams, and counts the lost ones", async (t) => {
    const { createSocket } = await import("node:dgram");
    const echo = createSocket("udp4");
    let n = 0;
    echo.on("message", (m, r) => {
      if (++n % 10 !== 0) echo.send(m, r.port, r.address); // drops every tenth
    });
    echo.bind(0, "127.0.0.1");
    await once(echo, "listening");
    t.after(() => echo.close());
    const r = await bench("127.0.0.1", echo.address().port, {
      udp: true,
      size: 512,
      duration: 0.5,
      udpTimeout: 0.02,
    });
    assert.ok(r.roundTrips > 50, `${r.roundTrips} round trips`);
    assert.ok(r.lost > 0, "the dropped datagrams are counted");
    assert.equal(r.size, 512);
  });

  it("says the connection was refused, as connect does, when nothing listens", async () => {
    const { closedPort } = await import("../../test/helpers/net.ts");
    const port = await closedPort();
    for (const conns of [1, 3]) {
      await assert.rejects(bench("127.0.0.1", port, { duration: 0.1, conns }), (err: Error) => {
        assert.ok(err instanceof ConnectionRefusedError, String(err));
        assert.equal(err.code, "ECONNREFUSED");
        assert.equal(err.message, `Cannot connect to 127.0.0.1:${port}: connection refused`);
        return true;
      });
    }
  });
});
