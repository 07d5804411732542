/**
 * The native reactor over real loopback sockets: streams, listeners and datagram sockets
 * read in batches, written at once, paused, reset, removed mid-batch, and the event loop
 * kept alive only by what is ref'd.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { once } from "node:events";
import { constants, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { connect, type Socket as NetSocket } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { closedPort, ipv6LoopbackWorks, tempDir, until } from "../../test/helpers/net.ts";
import { start } from "../../test/helpers/proc.ts";
import { DatagramBatch } from "./datagram-batch.ts";
import { type NativeAddon, native } from "./index.ts";
import {
  ACCEPT_BOUND,
  BATCH_BYTES,
  hasReactor,
  nativeReactorClass,
  Reactor,
  type ReactorError,
  type ReactorHandler,
  type RegisterOptions,
  reactorMissingReason,
  SLAB,
  STREAM_READ,
} from "./reactor.ts";
import { decodeSockaddr } from "./sockaddr.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SHUT_WR = 1;
const MiB = 1024 * 1024;
const noReactor = hasReactor() ? false : `the native reactor is absent (${reactorMissingReason()})`;

/** A reactor of the test's own, and the descriptors the test still owns, closed at its end. */
class Kit {
  readonly addon: NativeAddon = native("the reactor's tests");
  readonly reactor = new Reactor();
  readonly fds = new Set<number>();
  /** Batches dispatched so far (counted after each, by afterBatch). */
  batch = 0;
  #armed = false;

  constructor(t: TestContext) {
    t.after(() => {
      this.reactor.shutdown();
      for (const fd of this.fds) this.addon.close(fd);
    });
  }

  /** The number of the batch under way (call from a handler). */
  now(): number {
    if (!this.#armed) {
      this.#armed = true;
      this.reactor.afterBatch(() => {
        this.#armed = false;
        this.batch++;
      });
    }
    return this.batch;
  }

  own(fd: number): number {
    this.fds.add(fd);
    return fd;
  }

  register(
    fd: number,
    kind: "stream" | "listener" | "datagram",
    h: ReactorHandler,
    o?: RegisterOptions,
  ) {
    this.own(fd);
    return this.reactor.register(fd, kind, h, o);
  }

  close(id: number): void {
    const fd = this.reactor.fileno(id);
    this.reactor.close(id);
    this.fds.delete(fd);
  }

  /** A TCP listener on `host`, port 0: its descriptor and port. */
  listener(host = "127.0.0.1", backlog = 128): { fd: number; port: number } {
    const fd = this.own(this.addon.socket(host.includes(":") ? AF_INET6 : AF_INET, SOCK_STREAM, 0));
    this.addon.bind(fd, { family: host.includes(":") ? "inet6" : "inet", host, port: 0 });
    this.addon.listen(fd, backlog);
    return { fd, port: (this.addon.getsockname(fd, false) as { port: number }).port };
  }

  /** A UDP socket bound to `host`, port 0. */
  udp(host: string): { fd: number; port: number } {
    const six = host.includes(":");
    const fd = this.own(this.addon.socket(six ? AF_INET6 : AF_INET, SOCK_DGRAM, 0));
    this.addon.bind(fd, { family: six ? "inet6" : "inet", host, port: 0 });
    return { fd, port: (this.addon.getsockname(fd, false) as { port: number }).port };
  }
}

/** Everything a stream handler is told, each with the batch it came in. */
class Recorder implements ReactorHandler {
  readonly data: Buffer[] = [];
  readonly dataBatches: number[] = [];
  ends: number[] = [];
  readonly errors: ReactorError[] = [];
  writables = 0;
  readonly connects: (ReactorError | null)[] = [];
  readonly #kit: Kit;
  readonly #then: ReactorHandler;

  constructor(kit: Kit, then: ReactorHandler = {}) {
    this.#kit = kit;
    this.#then = then;
  }

  get bytes(): number {
    return this.data.reduce((n, d) => n + d.length, 0);
  }

  onData(data: Buffer, id: number): void {
    this.data.push(data);
    this.dataBatches.push(this.#kit.now());
    this.#then.onData?.(data, id);
  }
  onEnd(id: number): void {
    this.ends.push(this.#kit.now());
    this.#then.onEnd?.(id);
  }
  onError(err: ReactorError, id: number): void {
    this.errors.push(err);
    this.#then.onError?.(err, id);
  }
  onWritable(id: number): void {
    this.writables++;
    this.#then.onWritable?.(id);
  }
  onReadable(id: number): void {
    this.#then.onReadable?.(id);
  }
  onConnect(err: ReactorError | null, id: number): void {
    this.connects.push(err);
    this.#then.onConnect?.(err, id);
  }
}

/** A node:net client of 127.0.0.1:port (ends half-open only when told), destroyed at the end. */
async function client(t: TestContext, port: number, host = "127.0.0.1"): Promise<NetSocket> {
  const s = connect({ port, host, allowHalfOpen: true });
  s.on("error", () => {});
  t.after(() => {
    s.destroy();
  });
  await once(s, "connect");
  return s;
}

/** Accepts on a listener into `streams` (registered with a Recorder each). */
function acceptInto(
  kit: Kit,
  listenerFd: number,
  make: (id: () => number) => ReactorHandler = () => ({}),
  options?: RegisterOptions,
): Recorder[] {
  const streams: Recorder[] = [];
  kit.register(listenerFd, "listener", {
    onAccept(fd) {
      let id = -1;
      const rec = new Recorder(
        kit,
        make(() => id),
      );
      streams.push(rec);
      id = kit.register(fd, "stream", rec, options);
      ids.set(rec, id);
    },
  });
  return streams;
}
const ids = new WeakMap<Recorder, number>();
const idOf = (r: Recorder | undefined): number => ids.get(r as Recorder) as number;

/** A ping on a second connection, answered: at least one more batch has been dispatched. */
async function roundTrip(kit: Kit, t: TestContext): Promise<void> {
  const { fd, port } = kit.listener();
  // One handler for every connection: each call says which.
  const echo: ReactorHandler = {
    onData: (d, id) => {
      kit.reactor.write(id, d);
    },
  };
  const streams = acceptInto(kit, fd, () => echo);
  const c = await client(t, port);
  c.write("ping");
  await once(c, "data");
  c.destroy();
  await until(
    () => (streams[0]?.ends.length ?? 0) + (streams[0]?.errors.length ?? 0) > 0,
    "the close",
  );
  kit.close(idOf(streams[0]));
}

describe("Reactor", { skip: noReactor, timeout: 60_000 }, () => {
  it("has the record format and bounds this module was written for", () => {
    const c = nativeReactorClass().constants;
    assert.equal(c.STREAM_READ, STREAM_READ);
    assert.equal(c.BATCH_BYTES, BATCH_BYTES);
    assert.equal(c.ACCEPT_BOUND, ACCEPT_BOUND);
  });

  it("echoes a stream over loopback TCP and gives the peer's address with the connection", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const peers: Buffer[] = [];
    kit.register(fd, "listener", {
      onAccept(conn, address) {
        peers.push(Buffer.from(address));
        const id = kit.register(conn, "stream", {
          onData: (d) => assert.equal(kit.reactor.write(id, d), d.length),
          onEnd: () => kit.close(id),
        });
      },
    });
    const c = await client(t, port);
    const got: Buffer[] = [];
    c.on("data", (d: Buffer) => got.push(d));
    c.write("hello, reactor\n");
    await until(() => Buffer.concat(got).length === 15, "the echo");
    assert.equal(Buffer.concat(got).toString(), "hello, reactor\n");
    assert.deepEqual(decodeSockaddr(peers[0] as Buffer), {
      family: "inet",
      host: "127.0.0.1",
      port: c.localPort,
    });
    c.end();
    await once(c, "end"); // the server closed after our end
  });

  it("reads many connections in one batch", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams = acceptInto(kit, fd);
    const clients = await Promise.all(Array.from({ length: 50 }, () => client(t, port)));
    await until(() => streams.length === 50, "50 connections accepted");
    // Written in one turn of the loop, before the reactor's next wake-up.
    for (const [i, c] of clients.entries()) c.write(`message ${i}`);
    await until(() => streams.every((s) => s.data.length > 0), "a read on every connection");
    const batches = new Set(streams.map((s) => s.dataBatches[0]));
    assert.equal(batches.size, 1, `the 50 reads came in ${batches.size} batches`);
    const texts = new Set(streams.map((s) => Buffer.concat(s.data).toString()));
    assert.equal(texts.size, 50);
  });

  it("hands a large read over in a block of its own, and never writes to a block it handed over", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams = acceptInto(kit, fd);
    const c = await client(t, port);
    c.write("small");
    await until(() => streams[0] !== undefined && streams[0].bytes === 5, "the small read");
    const s = streams[0] as Recorder;
    const small = s.data[0] as Buffer;
    assert.ok(small.buffer.byteLength < STREAM_READ, "a small read is a view of the batch's bytes");
    const payload = randomBytes(8 * MiB);
    c.write(payload);
    await until(() => s.bytes === 5 + payload.length, "the payload", 30_000);
    // Kept, every chunk is still what was read: no block was read into again while held.
    assert.ok(Buffer.concat(s.data.slice(1)).equals(payload), "every byte, in order");
    const large = s.data.filter((d) => d.length >= STREAM_READ / 2);
    assert.ok(large.length > 0, "large reads");
    for (const d of large) {
      assert.equal(d.buffer.byteLength, STREAM_READ, "a large read is a view of its own block");
    }
    assert.equal(new Set(large.map((d) => d.buffer)).size, large.length, "one block per read");
  });

  it("hands small batches over in a shared slab, each in a part of its own", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams = acceptInto(kit, fd);
    const c = await client(t, port);
    const s = await (async () => {
      await until(() => streams.length === 1, "the connection");
      return streams[0] as Recorder;
    })();
    const views: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      c.write(`message ${i}`);
      await until(() => s.data.length === i + 1, `read ${i}`);
      views.push(s.data[i] as Buffer);
    }
    assert.equal(new Set(views.map((v) => v.buffer)).size, 1, "one slab for the five batches");
    assert.equal(views[0]?.buffer.byteLength, SLAB);
    assert.deepEqual(
      views.map((v) => v.toString()),
      Array.from({ length: 5 }, (_, i) => `message ${i}`),
      "no batch wrote over another",
    );
  });

  it("puts the small reads of a batch larger than a slab in slabs, the large ones in the batch", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    // Registered paused, so that every connection's bytes wait in the kernel and one
    // wake-up reads them all.
    const streams = acceptInto(kit, fd, () => ({}), { reading: false });
    const n = 24;
    const clients: NetSocket[] = [];
    for (let i = 0; i < n; i++) clients.push(await client(t, port));
    await until(() => streams.length === n, "the connections");
    const big = SLAB; // more than half a slab: stays in the batch's own Buffer
    const small = (i: number) => Buffer.from(`${i}:`.padEnd(500, String.fromCharCode(97 + i)));
    await Promise.all(
      clients.map(
        (c, i) =>
          new Promise<void>((resolve) =>
            c.write(i === 0 ? randomBytes(big) : small(i), () => resolve()),
          ),
      ),
    );
    const expected = clients.map((_, i) => (i === 0 ? null : small(i)));
    // On the loopback, written is received: resumed together, they are read in one batch.
    for (const s of streams) kit.reactor.setReading(idOf(s), true);
    await until(() => streams.every((s, i) => s.bytes === (i === 0 ? big : 500)), "the bytes");
    const batches = new Set(streams.map((s) => s.dataBatches[0]));
    assert.equal(batches.size, 1, "one batch");
    const slabs = new Set<ArrayBufferLike>();
    for (let i = 1; i < n; i++) {
      const v = (streams[i] as Recorder).data[0] as Buffer;
      assert.deepEqual(v, expected[i], `connection ${i}'s bytes`);
      assert.equal(v.buffer.byteLength, SLAB, "a small read is a view of a slab");
      slabs.add(v.buffer);
    }
    assert.ok(slabs.size >= 2, "as many slabs as the small reads fill");
    const large = (streams[0] as Recorder).data[0] as Buffer;
    assert.equal(large.length, big);
    assert.ok(large.buffer.byteLength > SLAB, "a larger read stays in the batch's Buffer");
  });

  it("reads a stream that is not a socket (a FIFO) as well", async (t) => {
    const kit = new Kit(t);
    const path = join(await tempDir(t), "fifo");
    const made = spawnSync("mkfifo", [path]);
    if (made.error !== undefined || made.status !== 0) {
      t.skip("mkfifo is not available");
      return;
    }
    // Read and write ends in one descriptor each, non-blocking (Linux opens a FIFO O_RDWR).
    const fd = kit.own(openSync(path, constants.O_RDWR | constants.O_NONBLOCK));
    const got: Buffer[] = [];
    kit.register(fd, "stream", { onData: (d) => got.push(Buffer.from(d)) });
    writeSync(fd, "through a pipe");
    await until(() => Buffer.concat(got).toString() === "through a pipe", "the bytes");
  });

  it("delivers a half-closed stream's end once, with its last bytes, and still writes after it", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams = acceptInto(kit, fd, (id) => ({
      onEnd() {
        // The peer has finished sending; the answer still goes to it, then our FIN.
        assert.equal(kit.reactor.write(id(), Buffer.from("reply after your FIN")), 20);
        kit.addon.shutdown(kit.reactor.fileno(id()), SHUT_WR);
      },
    }));
    const c = await client(t, port);
    const got: Buffer[] = [];
    c.on("data", (d: Buffer) => got.push(d));
    c.write("request");
    c.end();
    await once(c, "end");
    assert.equal(Buffer.concat(got).toString(), "reply after your FIN");
    const s = streams[0] as Recorder;
    assert.equal(Buffer.concat(s.data).toString(), "request");
    assert.equal(s.ends.length, 1);
    assert.equal(s.ends[0], s.dataBatches.at(-1), "the end came in the batch of the last bytes");
    await roundTrip(kit, t); // more wake-ups: the end is not reported again
    assert.equal(s.ends.length, 1);
    assert.equal(s.errors.length, 0);
  });

  it("reports a peer's reset once, as ECONNRESET, and writes then throw", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams = acceptInto(kit, fd);
    const c = await client(t, port);
    await until(() => streams.length === 1, "the connection");
    c.resetAndDestroy();
    const s = streams[0] as Recorder;
    await until(() => s.errors.length > 0, "the reset");
    assert.equal(s.errors[0]?.code, "ECONNRESET");
    assert.equal(s.errors[0]?.syscall, "read");
    assert.throws(
      () => kit.reactor.write(idOf(s), Buffer.from("too late")),
      (err: ReactorError) => err.code === "EPIPE" || err.code === "ECONNRESET",
    );
    await roundTrip(kit, t);
    assert.equal(s.errors.length, 1);
    assert.deepEqual(s.ends, []);
  });

  it("wakes a writer waiting on a paused stream when the peer resets it", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams = acceptInto(kit, fd);
    const c = await client(t, port);
    c.pause();
    await until(() => streams.length === 1, "the connection");
    const s = streams[0] as Recorder;
    const id = idOf(s);
    kit.reactor.setReading(id, false);
    const chunk = Buffer.alloc(MiB);
    while (kit.reactor.write(id, chunk) > 0) {
      // until the kernel takes no more
    }
    kit.reactor.wantWritable(id);
    c.resetAndDestroy();
    await until(() => s.writables === 1, "the writer's wake-up");
    assert.throws(
      () => kit.reactor.write(id, chunk),
      (err: ReactorError) => err.code === "EPIPE" || err.code === "ECONNRESET",
    );
  });

  it("stops reading a paused stream, bounds each read, and reads the rest once resumed", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    let paused = false;
    const streams = acceptInto(kit, fd, (id) => ({
      onData() {
        if (!paused) {
          paused = true;
          kit.reactor.setReading(id(), false);
        }
      },
    }));
    const c = await client(t, port);
    const payload = randomBytes(16 * MiB);
    c.write(payload);
    await until(() => paused, "the first read");
    const s = streams[0] as Recorder;
    const before = s.bytes;
    await roundTrip(kit, t);
    await roundTrip(kit, t);
    assert.equal(s.bytes, before, "nothing read while paused");
    assert.ok(c.writableLength > 0, "the peer is held back by flow control");
    kit.reactor.setReading(idOf(s), true);
    await until(() => s.bytes === payload.length, "the whole payload", 30_000);
    assert.ok(Buffer.concat(s.data).equals(payload), "every byte, in order");
    assert.ok(
      s.data.every((d) => d.length <= STREAM_READ),
      "no read over the per-socket bound",
    );
    // Bytes per batch stay within the batch bound (one socket here: its bound).
    const perBatch = new Map<number, number>();
    for (const [i, b] of s.dataBatches.entries()) {
      perBatch.set(b, (perBatch.get(b) ?? 0) + (s.data[i] as Buffer).length);
    }
    assert.ok(Math.max(...perBatch.values()) <= STREAM_READ);
  });

  it("says once when a stream it does not read has bytes, and leaves them to be read", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    let readable = 0;
    const streams = acceptInto(
      kit,
      fd,
      () => ({
        onReadable() {
          readable++;
        },
      }),
      { reading: false },
    );
    const c = await client(t, port);
    await until(() => streams.length === 1, "the connection");
    const s = streams[0] as Recorder;
    kit.reactor.wantReadable(idOf(s), true);
    c.write("left for the reader\n");
    await until(() => readable === 1, "onReadable");
    await roundTrip(kit, t);
    await roundTrip(kit, t);
    assert.equal(readable, 1, "once per wantReadable, though the bytes are still there");
    assert.equal(s.bytes, 0, "nothing was read");
    const conn = kit.reactor.fileno(idOf(s));
    const bytes = Buffer.alloc(64);
    const n = readSync(conn, bytes);
    assert.equal(bytes.subarray(0, n).toString(), "left for the reader\n");
  });

  it("whenReady: waits on the event loop for a descriptor, registered or not, or for the time", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const accepted: number[] = [];
    kit.register(fd, "listener", { onAccept: (conn) => accepted.push(kit.own(conn)) });
    const c = await client(t, port);
    await until(() => accepted.length === 1, "the connection");
    const conn = accepted[0] as number;
    // Not registered: watched for the wait, then given back.
    let ready = false;
    const waiting = kit.reactor.whenReady(conn, false, 60_000).then(() => {
      ready = true;
    });
    await roundTrip(kit, t);
    assert.equal(ready, false, "nothing to read yet");
    c.write("x");
    await waiting;
    assert.equal(kit.reactor.register(conn, "stream", {}, { reading: false }) >= 0, true);
    // Registered: through its id; unregistering it ends the wait at once.
    const id = kit.reactor.register(kit.own(kit.addon.dup(conn)), "stream", {}, { reading: false });
    const dupFd = kit.reactor.fileno(id);
    const second = kit.reactor.whenReady(dupFd, false, 60_000);
    kit.reactor.unregister(id);
    await second;
    // Writable: at once for an empty send buffer. And the time alone ends a wait.
    await kit.reactor.whenReady(conn, true, 60_000);
    const other = await client(t, port);
    await until(() => accepted.length === 2, "the second connection");
    const started = performance.now();
    await kit.reactor.whenReady(accepted[1] as number, false, 50);
    assert.ok(performance.now() - started >= 45, "the silent one waited for its time");
    other.destroy();
  });

  it("serves first, on the next wake-up, the sockets a full batch had no room for", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams: Recorder[] = [];
    kit.register(fd, "listener", {
      onAccept(conn) {
        const rec = new Recorder(kit);
        streams.push(rec);
        ids.set(rec, kit.register(conn, "stream", rec, { reading: false }));
      },
    });
    const clients = await Promise.all(Array.from({ length: 40 }, () => client(t, port)));
    await until(() => streams.length === 40, "40 connections");
    // Each peer's bytes wait in the kernel (more than STREAM_READ each, 40 times over the
    // batch bound), then every socket is resumed in the same turn of the loop.
    for (const c of clients) c.write(randomBytes(256 * 1024));
    for (const s of streams) kit.reactor.setReading(idOf(s), true);
    await until(() => streams.every((s) => s.data.length >= 2), "two reads on every socket");
    const served = (b: number) => new Set(streams.filter((s) => s.dataBatches.includes(b)));
    const bytesIn = (b: number) =>
      streams.reduce(
        (n, s) =>
          n + s.data.filter((_, i) => s.dataBatches[i] === b).reduce((m, d) => m + d.length, 0),
        0,
      );
    const first = Math.min(...streams.map((s) => s.dataBatches[0] as number));
    const s1 = served(first);
    const s2 = served(first + 1);
    assert.ok(s1.size < 40, `the first batch read ${s1.size} sockets: the bound cut it`);
    assert.ok(bytesIn(first) <= BATCH_BYTES + STREAM_READ, `${bytesIn(first)} bytes in one batch`);
    const skipped = streams.filter((s) => !s1.has(s));
    if (skipped.length >= s2.size) {
      assert.ok(
        [...s2].every((s) => !s1.has(s)),
        "the next batch served skipped sockets first",
      );
    } else {
      assert.ok(
        skipped.every((s) => s2.has(s)),
        "the next batch served every skipped socket",
      );
    }
  });

  it("takes part of a large write, says when it may write again, and delivers every byte", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const payload = randomBytes(24 * MiB);
    let sent = 0;
    let partial = 0;
    let asked = 0;
    const push = (id: number) => {
      while (sent < payload.length) {
        const n = kit.reactor.write(id, payload, sent, Math.min(MiB, payload.length - sent));
        if (n < 0) {
          asked++;
          kit.reactor.wantWritable(id);
          return;
        }
        if (n < Math.min(MiB, payload.length - sent)) partial++;
        sent += n;
      }
      kit.addon.shutdown(kit.reactor.fileno(id), SHUT_WR);
    };
    const streams = acceptInto(kit, fd, (id) => ({ onWritable: () => push(id()) }));
    const c = await client(t, port);
    c.pause(); // a slow reader: nothing read until the writer has filled the buffers
    await until(() => streams.length === 1, "the connection");
    const s = streams[0] as Recorder;
    push(idOf(s));
    assert.ok(sent < payload.length, "the kernel took only part");
    assert.equal(asked, 1);
    const hash = createHash("sha256");
    let got = 0;
    c.on("data", (d: Buffer) => {
      hash.update(d);
      got += d.length;
    });
    c.resume();
    await once(c, "end");
    assert.equal(got, payload.length);
    assert.equal(hash.digest("hex"), createHash("sha256").update(payload).digest("hex"));
    assert.ok(partial + asked > 1, "writes were cut short along the way");
    assert.equal(s.writables, asked, "one onWritable per wantWritable");
  });

  it("writeEach: the same bytes to many streams in one call, each one's outcome in results", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const streams = acceptInto(kit, fd);
    const clients = await Promise.all(Array.from({ length: 20 }, () => client(t, port)));
    await until(() => streams.length === 20, "20 connections accepted");
    const got = clients.map(() => [] as Buffer[]);
    for (const [i, c] of clients.entries()) c.on("data", (d: Buffer) => got[i]?.push(d));
    // The peers in the order they were accepted: the clients' local ports say which is which.
    const byPort = new Map(clients.map((c, i) => [c.localPort, i]));
    const ids = new Int32Array(32);
    const results = new Int32Array(32);
    const line = Buffer.from("one line for everyone\n");
    streams.forEach((s, i) => {
      ids[i] = idOf(s);
    });
    ids[20] = 4000; // never registered
    assert.equal(kit.reactor.writeEach(ids, 21, line, results), 20);
    assert.deepEqual([...results.subarray(0, 20)], new Array(20).fill(line.length));
    assert.equal(results[20], -9, "EBADF for an id that is not a stream");
    await until(
      () => got.every((g) => Buffer.concat(g).length === line.length),
      "every peer's line",
    );
    for (const g of got) assert.equal(Buffer.concat(g).toString(), line.toString());
    assert.equal(byPort.size, 20);

    // A peer that reset its connection: a negative errno for it, and the others still served.
    const first = streams[0] as Recorder;
    const gone = clients[byPort.get(decodePeerPort(kit, idOf(first))) as number] as NetSocket;
    gone.resetAndDestroy();
    await until(() => first.errors.length > 0, "the reset");
    const second = Buffer.from("a second line\n");
    assert.equal(kit.reactor.writeEach(ids, 20, second, results), 19);
    assert.ok(
      results[0] === -32 || results[0] === -104,
      `EPIPE or ECONNRESET for the reset peer, not ${results[0]}`,
    );
    await until(
      () =>
        got.filter((g) => Buffer.concat(g).length === line.length + second.length).length === 19,
      "the second line at the 19 others",
    );

    // A peer that does not read: the kernel takes part, then nothing (0: it would block).
    const slow = streams[1] as Recorder;
    const slowClient = clients[byPort.get(decodePeerPort(kit, idOf(slow))) as number] as NetSocket;
    slowClient.pause();
    const big = randomBytes(16 * MiB);
    const one = new Int32Array([idOf(slow)]);
    kit.reactor.writeEach(one, 1, big, results);
    assert.ok((results[0] as number) < big.length, "the kernel took only part");
    let zero = false;
    for (let i = 0; i < 64 && !zero; i++) {
      kit.reactor.writeEach(one, 1, big, results);
      zero = (results[0] as number) === 0;
    }
    assert.ok(zero, "a full socket takes nothing: 0");
    assert.throws(() => kit.reactor.writeEach(one, 2, big, results), RangeError);
  });

  it("accepts pending connections in batches of at most ACCEPT_BOUND", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener("127.0.0.1", 512);
    // 100 connections waiting in the listen queue before the reactor watches it.
    const clients = await Promise.all(Array.from({ length: 100 }, () => client(t, port)));
    const perBatch = new Map<number, number>();
    const peers = new Set<string>();
    kit.register(fd, "listener", {
      onAccept(conn, address) {
        const b = kit.now();
        perBatch.set(b, (perBatch.get(b) ?? 0) + 1);
        const a = decodeSockaddr(address) as { host: string; port: number };
        peers.add(`${a.host}:${a.port}`);
        kit.addon.close(conn);
      },
    });
    await until(() => peers.size === 100, "100 connections accepted");
    assert.deepEqual(peers, new Set(clients.map((c) => `127.0.0.1:${c.localPort}`)));
    assert.deepEqual([...perBatch.values()], [ACCEPT_BOUND, 100 - ACCEPT_BOUND]);
  });

  it("connects: onConnect(null) then data, or the refusal", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    acceptInto(kit, fd, (id) => ({ onData: (d) => kit.reactor.write(id(), d) }));
    const ok = kit.addon.socket(AF_INET, SOCK_STREAM, 0);
    kit.addon.connect(ok, { family: "inet", host: "127.0.0.1", port });
    let okId = -1;
    const rec = new Recorder(kit, {
      onConnect: (err) => {
        if (err === null) kit.reactor.write(okId, Buffer.from("through the reactor"));
      },
    });
    okId = kit.register(ok, "stream", rec, { connecting: true });
    await until(() => rec.bytes === 19, "the echo of what was written once connected");
    assert.deepEqual(rec.connects, [null]);
    assert.equal(Buffer.concat(rec.data).toString(), "through the reactor");

    const refused = kit.addon.socket(AF_INET, SOCK_STREAM, 0);
    const nobody = await closedPort();
    let failed: ReactorError | null = null;
    try {
      kit.addon.connect(refused, { family: "inet", host: "127.0.0.1", port: nobody });
    } catch (err) {
      failed = err as ReactorError; // loopback may refuse at once
    }
    if (failed === null) {
      const rec2 = new Recorder(kit);
      kit.register(refused, "stream", rec2, { connecting: true });
      await until(() => rec2.connects.length > 0, "the refusal");
      failed = rec2.connects[0] as ReactorError;
      assert.deepEqual(rec2.data, []);
    } else {
      kit.addon.close(refused);
    }
    assert.equal(failed?.code, "ECONNREFUSED");
  });

  for (const host of ["127.0.0.1", "::1"]) {
    it(`receives datagrams with their senders and answers a batch in one sendmmsg (${host})`, async (t) => {
      if (host === "::1" && !(await ipv6LoopbackWorks())) {
        t.skip("no IPv6 loopback here");
        return;
      }
      const kit = new Kit(t);
      const { fd, port } = kit.udp(host);
      const replies = new DatagramBatch();
      const seen: { data: string; from: ReturnType<typeof decodeSockaddr>; batch: number }[] = [];
      const flushed: number[] = [];
      let id = -1;
      id = kit.register(fd, "datagram", {
        onDatagram(data, from) {
          seen.push({ data: data.toString(), from: decodeSockaddr(from), batch: kit.now() });
          if (replies.length === 0)
            kit.reactor.afterBatch(() => flushed.push(replies.flush(kit.reactor, id)));
          replies.add(Buffer.concat([Buffer.from("echo "), data]), from);
        },
      });
      const peer: DgramSocket = createSocket(host === "::1" ? "udp6" : "udp4");
      t.after(() => peer.close());
      peer.bind(0, host);
      await once(peer, "listening");
      const got: string[] = [];
      peer.on("message", (m: Buffer) => got.push(m.toString()));
      // Ten datagrams sent in one turn of the loop: one recvmmsg.
      const sends = Array.from({ length: 10 }, (_, i) => `datagram ${i}`);
      for (const s of sends) peer.send(s, port, host);
      await until(() => got.length === 10, "ten echoes");
      assert.deepEqual(
        got,
        sends.map((s) => `echo ${s}`),
      );
      assert.deepEqual(
        seen.map((s) => s.data),
        sends,
      );
      assert.equal(new Set(seen.map((s) => s.batch)).size, 1, "one batch");
      assert.deepEqual(flushed, [10], "one sendmmsg of the ten replies");
      for (const s of seen) {
        assert.equal(s.from.family, host === "::1" ? "inet6" : "inet");
        assert.equal((s.from as { host: string }).host, host);
        assert.equal((s.from as { port: number }).port, peer.address().port);
      }
      // One more, with sendto and an address made by the addon.
      const to = kit.reactor.encodeAddress(
        host === "::1"
          ? { family: "inet6", host, port: peer.address().port }
          : { family: "inet", host, port: peer.address().port },
      );
      assert.equal(kit.reactor.sendto(id, Buffer.from("by sendto"), to), 9);
      await until(() => got.length === 11, "the datagram sent with sendto");
      assert.equal(got[10], "by sendto");
    });
  }

  it("drops the records of a socket closed earlier in the same batch, and never reuses its id there", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    let closedId = -1;
    let newcomer = -1;
    const streams: Recorder[] = acceptInto(kit, fd, (id) => ({
      onData() {
        if (closedId >= 0) return;
        closedId = idOf(streams.find((s) => idOf(s) !== id()));
        kit.close(closedId);
        // A registration in the same batch gets another id.
        newcomer = kit.register(kit.udp("127.0.0.1").fd, "datagram", {});
      },
    }));
    const a = await client(t, port);
    const b = await client(t, port);
    await until(() => streams.length === 2, "two connections");
    a.write("from a");
    b.write("from b");
    await until(() => closedId >= 0, "the first read");
    await roundTrip(kit, t);
    const closed = streams.find((s) => idOf(s) === closedId) as Recorder;
    const open = streams.find((s) => s !== closed) as Recorder;
    assert.equal(open.data.length, 1);
    assert.deepEqual(closed.data, [], "the closed socket's pending read was dropped");
    assert.notEqual(newcomer, closedId);
  });

  it("closes what a listener closed earlier in the same batch had accepted", async (t) => {
    const kit = new Kit(t);
    const one = kit.listener();
    const two = kit.listener();
    // Three connections waiting on each listener before the reactor watches them.
    const clients = await Promise.all([one, two, one, two, one, two].map((l) => client(t, l.port)));
    const accepted: number[] = [];
    const ids: number[] = [];
    let closedListener = -1;
    const handler = (me: number): ReactorHandler => ({
      onAccept(conn) {
        if (closedListener < 0) {
          closedListener = ids[1 - me] as number;
          kit.close(closedListener);
        }
        accepted.push(kit.own(conn));
      },
    });
    ids.push(kit.register(one.fd, "listener", handler(0)));
    ids.push(kit.register(two.fd, "listener", handler(1)));
    await until(() => closedListener >= 0, "the first accept");
    assert.equal(accepted.length, 3, "only the open listener's connections were handed over");
    // The closed listener's were accepted in that batch, then closed by the dispatcher: their
    // peers see an orderly end (a listener closed with connections still queued resets them).
    const orphans = clients.filter((_, i) => i % 2 === (closedListener === ids[0] ? 0 : 1));
    await Promise.all(orphans.map((c) => once(c, "end")));
  });

  it("survives descriptors closed before their removal while dups keep the sockets open", async (t) => {
    const kit = new Kit(t);
    const { fd, port } = kit.listener();
    const echo: ReactorHandler = { onData: (d, id) => kit.reactor.write(id, d) };
    const streams = acceptInto(kit, fd, () => echo);
    const [a, b, live] = [await client(t, port), await client(t, port), await client(t, port)];
    await until(() => streams.length === 3, "three connections");
    const [sa, sb] = streams as [Recorder, Recorder];
    for (const s of [sa, sb]) kit.own(kit.addon.dup(kit.reactor.fileno(idOf(s))));
    // a: closed, then unregistered (the wrong order); b: closed and left registered.
    for (const s of [sa, sb]) {
      const fdOf = kit.reactor.fileno(idOf(s));
      kit.addon.close(fdOf);
      kit.fds.delete(fdOf);
    }
    kit.reactor.unregister(idOf(sa));
    a.write("to a registration let go of");
    b.write("to a closed descriptor");
    await until(() => sb.errors.length === 1, "b's read of its closed descriptor");
    assert.equal(sb.errors[0]?.code, "EBADF");
    await until(() => kit.reactor.stats().rebuilds > 0, "the rebuild");
    // Nothing reports any more: turns of the loop bring no wake-up.
    const wakes = kit.reactor.stats().wakes;
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(kit.reactor.stats().wakes, wakes, "no wake-up without news");
    assert.deepEqual(sa.data, []);
    // What was registered rightly is still watched in the new epoll instance.
    const got: Buffer[] = [];
    live.on("data", (d: Buffer) => got.push(d));
    live.write("still here");
    await until(() => Buffer.concat(got).toString() === "still here", "the echo after the rebuild");
    kit.reactor.unregister(idOf(sb));
  });

  it("throws errno errors for what epoll cannot watch and for unknown ids", async (t) => {
    const kit = new Kit(t);
    const dir = await tempDir(t);
    writeFileSync(join(dir, "file"), "x");
    const { openSync, closeSync } = await import("node:fs");
    const file = openSync(join(dir, "file"), "r");
    t.after(() => closeSync(file));
    assert.throws(() => kit.reactor.register(file, "stream", {}), { code: "EPERM" });
    assert.throws(() => kit.reactor.register(123456, "stream", {}), { code: "EBADF" });
    assert.throws(() => kit.reactor.write(4242, Buffer.from("x")), { code: "EBADF" });
    const cls = nativeReactorClass();
    const raw = new cls(() => {});
    t.after(() => raw.close());
    const { fd } = kit.udp("127.0.0.1");
    raw.add(7, fd, 3, 0);
    assert.throws(() => raw.add(7, fd, 3, 0), { code: "EEXIST" });
    assert.equal(raw.remove(7), true);
    assert.equal(raw.remove(7), false);
  });
});

describe("Reactor and the process", { skip: noReactor, timeout: 60_000 }, () => {
  const here = (file: string) => JSON.stringify(new URL(file, import.meta.url).pathname);
  const prelude = `
import { native } from ${here("./index.ts")};
import { Reactor } from ${here("./reactor.ts")};
const addon = native("test");
const reactor = Reactor.shared();
const fd = addon.socket(2, 1, 0);
addon.bind(fd, { family: "inet", host: "127.0.0.1", port: 0 });
addon.listen(fd, 8);
const port = addon.getsockname(fd, false).port;
`;

  /** Runs `main` (after the prelude: a listener `fd` on `port`) in a child process. */
  async function run(
    t: TestContext,
    main: string,
    options: {
      files?: Record<string, string>;
      withPort?: (port: number, stdin: NodeJS.WritableStream) => Promise<void>;
    } = {},
  ) {
    const dir = await tempDir(t);
    writeFileSync(join(dir, "main.ts"), prelude + main);
    for (const [name, text] of Object.entries(options.files ?? {}))
      writeFileSync(join(dir, name), text);
    const child = start(process.execPath, ["--import", "tsx", join(dir, "main.ts")]);
    t.after(() => child.stop());
    if (options.withPort !== undefined) {
      const port = /port (\d+)/;
      await until(() => port.test(child.stdout().toString()), "the child's port", 20_000);
      await options.withPort(
        Number(port.exec(child.stdout().toString())?.[1]),
        child.child.stdin as NodeJS.WritableStream,
      );
    }
    const code = await child.exited;
    return { code, out: child.stdout().toString(), err: child.stderr() };
  }

  it("lets the process exit when what is registered is not ref'd", async (t) => {
    const r = await run(
      t,
      `reactor.register(fd, "listener", {}, { ref: false });
const id = reactor.register(addon.socket(2, 2, 0), "datagram", {});
reactor.ref(id, false);
console.log("registered");`,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /registered/);
  });

  it("keeps the process alive while a ref'd socket is registered, until it is removed", async (t) => {
    const r = await run(
      t,
      `const id = reactor.register(fd, "listener", {
  onAccept(conn) {
    addon.close(conn);
    reactor.close(id);
    console.log("accepted, closed");
  },
});
console.log("port " + port);`,
      {
        withPort: async (port) => {
          // The child is still there to accept: a ref'd listener kept it alive.
          const c = connect({ port, host: "127.0.0.1" });
          c.on("error", () => {});
          await once(c, "connect");
          c.destroy();
        },
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /accepted, closed/);
  });

  it("closes a worker's reactor, and what is registered on it, when the worker ends", async (t) => {
    const r = await run(
      t,
      `import { Worker } from "node:worker_threads";
addon.close(fd);
const w = new Worker(new URL("./worker.mjs", import.meta.url));
let workerPort = 0;
w.on("message", (p) => {
  workerPort = p;
  w.terminate();
});
w.on("exit", async () => {
  // The worker's listener was closed with it: nothing answers on its port now.
  const { connect } = await import("node:net");
  const c = connect({ port: workerPort, host: "127.0.0.1" });
  c.on("connect", () => {
    console.log("still listening");
    c.destroy();
  });
  c.on("error", (err) => console.log("worker gone: " + err.code));
});`,
      {
        files: {
          // A worker does not inherit the TypeScript loader: it registers its own.
          "worker.mjs": `import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))};
register();
await import("./worker.ts");`,
          "worker.ts": `${prelude}
import { parentPort } from "node:worker_threads";
reactor.register(fd, "listener", {});
reactor.register(addon.socket(2, 2, 0), "datagram", {});
parentPort.postMessage(port);`,
        },
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /worker gone: ECONNREFUSED/);
  });

  it("sends a handler's exception to uncaughtException after dispatching the whole batch", async (t) => {
    const r = await run(
      t,
      `let handled = 0;
process.on("uncaughtException", (err) => {
  console.log("uncaught " + err.message + " after " + handled);
  process.exit(0);
});
process.stdin.once("data", () => {
  process.stdin.pause();
  reactor.register(fd, "listener", {
    onAccept(conn) {
      addon.close(conn);
      handled++;
      if (handled === 1) throw new Error("boom");
    },
  });
});
console.log("port " + port);`,
      {
        withPort: async (port, stdin) => {
          // Both connections wait in the queue before the child watches it: one batch.
          const cs = [0, 1].map(() => connect({ port, host: "127.0.0.1" }).on("error", () => {}));
          t.after(() => {
            for (const c of cs) c.destroy();
          });
          await Promise.all(cs.map((c) => once(c, "connect")));
          stdin.write("go\n");
        },
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /uncaught boom after 2/);
  });

  it("sends an exception of a native socket's poll callback to uncaughtException, not abort()", async (t) => {
    const r = await run(
      t,
      `process.on("uncaughtException", (err) => {
  console.log("uncaught " + err.message);
  process.exit(0);
});
const poller = new addon.Poller(fd, () => {
  poller.stop();
  throw new Error("thrown in a poll callback");
});
poller.start(1);
console.log("port " + port);`,
      {
        withPort: async (port) => {
          const c = connect({ port, host: "127.0.0.1" }).on("error", () => {});
          t.after(() => c.destroy());
        },
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /uncaught thrown in a poll callback/);
  });
});

/** The peer port of the stream `id` (the client's local port). */
function decodePeerPort(kit: Kit, id: number): number {
  return (kit.addon.getsockname(kit.reactor.fileno(id), true) as { port: number }).port;
}
