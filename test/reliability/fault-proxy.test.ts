/**
 * The fault proxy does each fault it claims: every test here fails if its fault did
 * nothing (data would arrive whole, at once, and never be cut, reset or lost).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { closedPort, netServer, until } from "../helpers/net.ts";
import { FaultProxy, type FaultProxyOptions } from "./lib/fault-proxy.ts";

const T = { timeout: 10_000 };

/** One end of a connection, recording what it reads and how it ends. */
class Peer {
  readonly socket: Socket;
  readonly chunks: Buffer[] = [];
  /** `performance.now()` of each chunk's arrival. */
  readonly times: number[] = [];
  received = 0;
  ended = false;
  closed = false;
  errorCode: string | null = null;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.times.push(performance.now());
      this.received += chunk.length;
    });
    socket.on("end", () => {
      this.ended = true;
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.errorCode = err.code ?? "unknown";
    });
    socket.on("close", () => {
      this.closed = true;
    });
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * A server behind a fault proxy, and a client connected through the proxy: the proxy's
 * connection to the server is up when this resolves.
 */
async function throughProxy(
  t: TestContext,
  options: FaultProxyOptions = {},
): Promise<{ proxy: FaultProxy; client: Peer; server: Peer }> {
  const accepted: Peer[] = [];
  const { port } = await netServer(t, (s) => accepted.push(new Peer(s)));
  const proxy = await FaultProxy.start(["127.0.0.1", port], options);
  t.after(() => proxy.close());
  const socket = connect({ host: "127.0.0.1", port: proxy.port, allowHalfOpen: true });
  t.after(() => socket.destroy());
  const client = new Peer(socket);
  await once(socket, "connect");
  await until(() => accepted.length === 1, "the proxied connection to reach the server");
  return { proxy, client, server: accepted[0] as Peer };
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Gives the proxy room to misbehave before checking that it did not deliver. */
const observe = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("FaultProxy", () => {
  it("forwards both ways, byte for byte, and counts connections and bytes", T, async (t) => {
    const { proxy, client, server } = await throughProxy(t);
    const up = randomBytes(300_000);
    const down = randomBytes(200_000);
    client.socket.end(up);
    server.socket.end(down);
    await until(() => client.ended && server.ended, "both ends to see EOF");
    assert.equal(sha(server.data()), sha(up));
    assert.equal(sha(client.data()), sha(down));
    assert.equal(proxy.counters.connections, 1);
    assert.deepEqual(proxy.counters.upstream, {
      received: 300_000,
      forwarded: 300_000,
      dropped: 0,
    });
    assert.deepEqual(proxy.counters.downstream, {
      received: 200_000,
      forwarded: 200_000,
      dropped: 0,
    });
    await until(() => proxy.counters.open === 0, "the proxied connection to close");
  });

  it("keeps a half-close: the other direction goes on after one side's FIN", T, async (t) => {
    const { client, server } = await throughProxy(t);
    client.socket.end("request");
    await until(() => server.ended, "the FIN to reach the server");
    server.socket.end("reply after FIN");
    await until(() => client.ended, "the reply and its FIN");
    assert.equal(server.data().toString(), "request");
    assert.equal(client.data().toString(), "reply after FIN");
  });

  it("delays each chunk by at least the latency, and keeps the order", T, async (t) => {
    const { proxy, client, server } = await throughProxy(t, { upstream: { latency: 150 } });
    const sentAt = performance.now();
    client.socket.write("A");
    await until(() => proxy.counters.upstream.received === 1, "the proxy to hold the first byte");
    // Without latency now: "B" would overtake "A" if the order were not kept.
    proxy.set("upstream", { latency: 0 });
    client.socket.write("B");
    await until(() => server.received === 2, "both bytes");
    assert.equal(server.data().toString(), "AB");
    const delay = (server.times[0] as number) - sentAt;
    assert.ok(delay >= 149, `the first byte came after ${delay.toFixed(1)} ms, not >= 150`);
  });

  it("limits the bandwidth: 60 KB at 200 KB/s takes at least about 0.3 s", T, async (t) => {
    const rate = 200_000;
    const size = 60_000;
    const { client, server } = await throughProxy(t, { upstream: { bandwidth: rate } });
    const data = randomBytes(size);
    const started = performance.now();
    client.socket.write(data);
    await until(() => server.received === size, "every byte");
    const elapsed = performance.now() - started;
    // The first 20 ms slot goes out at once; the rest is paced.
    const floor = ((size - rate * 0.02) / rate) * 1000;
    assert.ok(elapsed >= floor - 1, `took ${elapsed.toFixed(0)} ms, expected >= ${floor} ms`);
    assert.equal(sha(server.data()), sha(data));
  });

  it("slices writes: 1-byte slices arrive as many separate reads", T, async (t) => {
    const { client, server } = await throughProxy(t, { downstream: { slice: 1 } });
    const data = randomBytes(500);
    server.socket.write(data);
    await until(() => client.received === data.length, "every byte");
    assert.ok(client.chunks.length >= 100, `only ${client.chunks.length} reads for 500 bytes`);
    assert.ok(client.data().equals(data));
  });

  it(
    "stalls without closing, holding the sender back, and resumes losing nothing",
    T,
    async (t) => {
      const { proxy, client, server } = await throughProxy(t, {
        upstream: { stall: true },
        highWaterMark: 64 * 1024,
      });
      const data = randomBytes(16 * 1024 * 1024);
      client.socket.write(data);
      await until(
        () => proxy.counters.upstream.received >= 64 * 1024,
        "the proxy to read a little",
      );
      await observe(100);
      assert.equal(server.received, 0, "nothing got through the stall");
      assert.equal(server.ended || client.ended || client.closed, false, "the connection is open");
      assert.ok(
        proxy.counters.upstream.received < 1024 * 1024,
        `the proxy read ${proxy.counters.upstream.received} bytes while stalled`,
      );
      proxy.set("upstream", { stall: false });
      await until(() => server.received === data.length, "everything after the stall", 8000);
      assert.equal(sha(server.data()), sha(data));
    },
  );

  it("cuts after exactly N bytes: N bytes, then a clean EOF on both sides", T, async (t) => {
    const { proxy, client, server } = await throughProxy(t, { upstream: { cutAfter: 1000 } });
    const data = randomBytes(5000);
    client.socket.write(data);
    await until(() => server.ended && client.ended, "EOF on both sides");
    assert.ok(server.data().equals(data.subarray(0, 1000)), `got ${server.received} bytes`);
    assert.equal(server.errorCode, null);
    assert.equal(client.errorCode, null);
    assert.equal(proxy.counters.upstream.forwarded, 1000);
  });

  it("cuts the downstream direction on its own count", T, async (t) => {
    const { client, server } = await throughProxy(t, { downstream: { cutAfter: 7 } });
    client.socket.write("upstream is not counted");
    await until(() => server.received === 23, "the request");
    server.socket.write("0123456789");
    await until(() => client.ended, "EOF at the client");
    assert.equal(client.data().toString(), "0123456");
  });

  it(
    "resets both sides after N bytes: ECONNRESET at the client, a dead socket at the server",
    T,
    async (t) => {
      const { proxy, client, server } = await throughProxy(t, { upstream: { resetAfter: 10 } });
      client.socket.write(randomBytes(100));
      await until(() => client.closed, "the client to see the reset");
      assert.equal(client.errorCode, "ECONNRESET");
      // A reset right behind data can read as EOF at the server (libuv takes the hang-up
      // after a short read for an end); its socket is dead all the same: a write fails.
      await until(() => server.ended || server.errorCode !== null, "the server to see the end");
      if (server.errorCode === null) server.socket.write("anyone there?");
      await until(() => server.errorCode !== null, "the server's write to fail");
      assert.ok(
        ["ECONNRESET", "EPIPE"].includes(server.errorCode as string),
        `server: ${server.errorCode}`,
      );
      assert.ok(server.received <= 10, `the server got ${server.received} bytes`);
      assert.equal(proxy.counters.upstream.forwarded, 10);
    },
  );

  it("resets every open connection on demand", T, async (t) => {
    const { proxy, client, server } = await throughProxy(t);
    proxy.resetAll();
    await until(() => client.closed && server.closed, "both sides to close");
    assert.equal(client.errorCode, "ECONNRESET");
    assert.equal(server.errorCode, "ECONNRESET");
  });

  it("half-open: drops one direction's data while the connection stays open", T, async (t) => {
    const { proxy, client, server } = await throughProxy(t, { upstream: { drop: true } });
    client.socket.write("lost");
    await until(() => proxy.counters.upstream.dropped === 4, "the proxy to drop the bytes");
    server.socket.write("still here");
    await until(() => client.received === 10, "the other direction to work");
    assert.equal(server.received, 0, "nothing of the dropped direction arrived");
    assert.equal(client.data().toString(), "still here");
    assert.equal(server.ended || server.closed || client.ended || client.closed, false);
    proxy.set("upstream", { drop: false });
    client.socket.write("found");
    await until(() => server.received === 5, "data after the half-open spell");
    assert.equal(server.data().toString(), "found");
  });

  it("resets the client when the target refuses the connection", T, async (t) => {
    const proxy = await FaultProxy.start(["127.0.0.1", await closedPort()]);
    t.after(() => proxy.close());
    const client = new Peer(connect({ host: "127.0.0.1", port: proxy.port }));
    t.after(() => client.socket.destroy());
    await until(() => client.closed, "the client to be reset");
    assert.equal(client.errorCode, "ECONNRESET");
  });

  it("close() destroys every connection", T, async (t) => {
    const { proxy, client, server } = await throughProxy(t);
    await proxy.close();
    await until(() => client.ended && server.ended, "both sides to see the end");
    await until(() => proxy.counters.open === 0, "the count of open connections to fall");
  });
});
