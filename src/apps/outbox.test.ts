import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpPair } from "../../test/helpers/net.ts";
import "../native/register.ts";
import { hasReactor } from "../native/reactor.ts";
import { ReactorSocket } from "../native/reactor-socket.ts";
import type { Socket } from "../socket/socket.ts";
import { Outbox } from "./outbox.ts";

/** A stand-in socket whose sends complete when the test says so. */
function fakeSocket() {
  const sent: Buffer[] = [];
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const socket = {
    sendall: (data: Buffer) =>
      new Promise<void>((resolve, reject) => {
        sent.push(Buffer.from(data));
        pending.push({ resolve, reject });
      }),
  } as unknown as Socket;
  return { socket, sent, pending };
}

const b = (s: string) => Buffer.from(s);

describe("Outbox", () => {
  it("sends what a turn queued in one batch, and what queued during a send after it", async () => {
    const { socket, sent, pending } = fakeSocket();
    const out = new Outbox(socket);
    out.push(b("one "));
    out.push(b("two "));
    assert.deepEqual(sent.map(String), [], "nothing leaves before the turn is over");
    await new Promise(setImmediate);
    assert.deepEqual(sent.map(String), ["one two "], "the turn's messages in one send");
    out.push(b("three "));
    out.push(b("four"));
    await new Promise(setImmediate);
    assert.deepEqual(sent.map(String), ["one two "], "one send at a time");
    pending.shift()?.resolve();
    await out.below(10);
    await new Promise(setImmediate);
    assert.deepEqual(sent.map(String), ["one two ", "three four"]);
    pending.shift()?.resolve();
    await out.below(0);
    assert.equal(out.queued, 0);
  });

  it("makes one send per peer per turn, however many messages the turn has for it", async () => {
    const peers = Array.from({ length: 3 }, () => fakeSocket());
    const outs = peers.map((p) => new Outbox(p.socket));
    const line = b("a shared line\n");
    for (let i = 0; i < 100; i++) for (const out of outs) out.push(line);
    await new Promise(setImmediate);
    for (const p of peers) {
      assert.equal(p.sent.length, 1);
      assert.equal(p.sent[0]?.length, 100 * line.length);
    }
  });

  it("never refuses a peer that reads because one turn had more than its limit for it", async () => {
    // A peer whose every send is taken at once, as the kernel takes a reading peer's.
    const sent: Buffer[] = [];
    const socket = {
      sendall: (data: Buffer) => {
        sent.push(Buffer.from(data));
        return Promise.resolve();
      },
    } as unknown as Socket;
    const out = new Outbox(socket, { limit: 100 });
    // Ten reads in one turn, 30 bytes each for this peer: three times its limit.
    for (let i = 0; i < 10; i++) {
      assert.equal(out.push(b(`${i}`.repeat(30))), true, `push ${i}`);
      await Promise.resolve();
    }
    await new Promise(setImmediate);
    assert.equal(
      Buffer.concat(sent).toString(),
      Array.from({ length: 10 }, (_, i) => `${i}`.repeat(30)).join(""),
    );
    assert.ok(sent.length > 1 && sent.length < 10, `${sent.length} sends`);
  });

  it("refuses what would take it over its limit, and takes more once the peer reads", async () => {
    const { socket, pending } = fakeSocket();
    const out = new Outbox(socket, { limit: 10 });
    assert.equal(out.push(b("0123456789")), true);
    assert.equal(out.push(b("x")), false, "over the limit: refused");
    assert.equal(out.queued, 10, "nothing of the refused chunk was queued");
    assert.ok(out.stalledFor >= 0);
    await new Promise(setImmediate);
    pending.shift()?.resolve();
    await out.below(0);
    assert.equal(out.push(b("x")), true);
  });

  it("after a failed send it drops what comes and says so", async () => {
    const { socket, pending } = fakeSocket();
    const out = new Outbox(socket);
    out.push(b("lost"));
    await new Promise(setImmediate);
    pending.shift()?.reject(new Error("reset"));
    await out.below(0);
    assert.equal(out.failed, true);
    assert.equal(out.push(b("more")), true);
    assert.equal(out.queued, 0);
  });
});

const nativeIO = hasReactor() && !process.env.SOCKETKIT_NO_NATIVE_IO;

describe("Outbox over real sockets", { timeout: 30_000 }, () => {
  it("hands a turn's broadcast to every peer together: put in one Buffer once, written in one call", async (t) => {
    const pairs = await Promise.all(Array.from({ length: 30 }, () => tcpPair(t)));
    const outs = pairs.map((p) => new Outbox(p.conn));
    // Watches the native path's fan-out (the real one, called through).
    const calls: { sources: number; bytes: number }[] = [];
    const real = ReactorSocket.prototype.tryWriteEach;
    ReactorSocket.prototype.tryWriteEach = function (sources, data, callbacks, took) {
      calls.push({ sources: sources.length, bytes: data.length });
      real.call(this, sources, data, callbacks, took);
    };
    t.after(() => {
      ReactorSocket.prototype.tryWriteEach = real;
    });
    const one = b("[00:00:01] <alice> one\r\n");
    const two = b("[00:00:02] <bob> two\r\n");
    for (const out of outs) {
      out.push(one);
      out.push(two);
    }
    // One more line for the first peer alone: its batch differs, and goes on its own.
    outs[0]?.push(b("(private) <carol> hi\r\n"));
    await Promise.all(outs.map((out) => out.below(0)));
    const want = "[00:00:01] <alice> one\r\n[00:00:02] <bob> two\r\n";
    for (const [i, p] of pairs.entries()) {
      let text = "";
      const length = want.length + (i === 0 ? 22 : 0);
      while (text.length < length) text += (await p.client.recv(1000)).toString();
      assert.equal(text, i === 0 ? `${want}(private) <carol> hi\r\n` : want);
    }
    if (nativeIO) {
      assert.deepEqual(calls, [{ sources: 29, bytes: want.length }], "one call for the 29 alike");
    }
  });

  it("keeps a peer that does not read to its limit, and the others get every line in order", async (t) => {
    const pairs = await Promise.all(Array.from({ length: 5 }, () => tcpPair(t)));
    const outs = pairs.map((p) => new Outbox(p.conn, { limit: 64 * 1024 }));
    const line = Buffer.alloc(1000, 0x61);
    line[999] = 0x0a;
    // Peer 0 reads nothing: once the kernel's buffers and its outbox are full, it is refused.
    let refused = -1;
    const readers = pairs.slice(1).map(async (p) => {
      let n = 0;
      while (n < 20_000 * line.length) {
        const chunk = await p.client.recv(65536);
        assert.ok(chunk.every((c, k) => c === ((n + k) % 1000 === 999 ? 0x0a : 0x61)));
        n += chunk.length;
      }
      return n;
    });
    for (let i = 0; i < 20_000; i++) {
      for (const [k, out] of outs.entries()) {
        if (k === 0 && refused >= 0) continue;
        if (!out.push(line)) {
          assert.equal(k, 0, "only the peer that does not read is refused");
          refused = i;
        }
      }
      // A turn every few lines, as lines come from many reads.
      if (i % 20 === 19) await new Promise(setImmediate);
    }
    assert.ok(refused > 0, "the peer that does not read was refused");
    assert.ok((outs[0] as Outbox).queued <= 64 * 1024);
    assert.deepEqual(await Promise.all(readers), [2e7, 2e7, 2e7, 2e7]);
  });
});
