/** Datagrams staged and sent in one sendmmsg, each to its own address. */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { describe, it } from "node:test";
import { until } from "../../test/helpers/net.ts";
import { DatagramBatch } from "./datagram-batch.ts";
import { native } from "./index.ts";
import { hasReactor, Reactor, reactorMissingReason } from "./reactor.ts";

const noReactor = hasReactor() ? false : `the native reactor is absent (${reactorMissingReason()})`;

describe("DatagramBatch", { skip: noReactor }, () => {
  it("sends what it holds to each datagram's own address, in order, in one call", async (t) => {
    const addon = native("the tests");
    const reactor = new Reactor();
    const fd = addon.socket(2, 2, 0);
    t.after(() => {
      reactor.shutdown();
      addon.close(fd);
    });
    const id = reactor.register(fd, "datagram", {}, { reading: false });
    const peers = [createSocket("udp4"), createSocket("udp4")];
    const got: string[][] = [[], []];
    for (const [i, p] of peers.entries()) {
      t.after(() => p.close());
      p.bind(0, "127.0.0.1");
      await once(p, "listening");
      p.on("message", (m: Buffer) => got[i]?.push(m.toString()));
    }
    const to = peers.map((p) =>
      reactor.encodeAddress({ family: "inet", host: "127.0.0.1", port: p.address().port }),
    );
    const batch = new DatagramBatch();
    for (let i = 0; i < 200; i++) {
      assert.ok(batch.add(Buffer.from(`datagram ${i}`), to[i % 2] as Buffer));
    }
    assert.ok(batch.add(Buffer.alloc(0), to[0] as Buffer), "an empty datagram is one too");
    assert.equal(batch.length, 201);
    assert.equal(batch.flush(reactor, id), 201);
    assert.equal(batch.length, 0);
    assert.equal(batch.flush(reactor, id), 0);
    await until(() => (got[0]?.length ?? 0) + (got[1]?.length ?? 0) === 201, "every datagram");
    const sent = Array.from({ length: 200 }, (_, i) => `datagram ${i}`);
    assert.deepEqual(got[0], [...sent.filter((_, i) => i % 2 === 0), ""]);
    assert.deepEqual(
      got[1],
      sent.filter((_, i) => i % 2 === 1),
    );
  });

  it("refuses a datagram past maxBytes, and drops one the kernel refuses", async (t) => {
    const addon = native("the tests");
    const reactor = new Reactor();
    const fd = addon.socket(2, 2, 0);
    t.after(() => {
      reactor.shutdown();
      addon.close(fd);
    });
    const id = reactor.register(fd, "datagram", {}, { reading: false });
    const batch = new DatagramBatch({ maxBytes: 100 });
    const to = reactor.encodeAddress({ family: "inet", host: "127.0.0.1", port: 9 });
    assert.equal(batch.add(Buffer.alloc(90), to), false, "90 bytes and a 16-byte address");
    assert.equal(batch.add(Buffer.alloc(84), to), true, "84 bytes and a 16-byte address");
    assert.equal(batch.length, 1);
    // Too long for UDP: the kernel refuses the first, which goes; the next still waits.
    const big = new DatagramBatch();
    big.add(Buffer.alloc(70000), to);
    big.add(Buffer.from("fine"), to);
    assert.throws(() => big.flush(reactor, id), { code: "EMSGSIZE" });
    assert.equal(big.length, 1);
    assert.equal(big.flush(reactor, id), 1);
  });
});
