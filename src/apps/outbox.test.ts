import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
