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
  it("sends in order, and what queued during a send leaves in one batch", async () => {
    const { socket, sent, pending } = fakeSocket();
    const out = new Outbox(socket);
    out.push(b("one "));
    out.push(b("two "));
    out.push(b("three"));
    assert.deepEqual(sent.map(String), ["one "], "the first send starts at once");
    pending.shift()?.resolve();
    await out.below(9);
    assert.deepEqual(sent.map(String), ["one ", "two three"]);
    pending.shift()?.resolve();
    await out.below(0);
    assert.equal(out.queued, 0);
  });

  it("refuses what would take it over its limit, and takes more once the peer reads", async () => {
    const { socket, pending } = fakeSocket();
    const out = new Outbox(socket, { limit: 10 });
    assert.equal(out.push(b("0123456789")), true);
    assert.equal(out.push(b("x")), false, "over the limit: refused");
    assert.equal(out.queued, 10, "nothing of the refused chunk was queued");
    assert.ok(out.stalledFor >= 0);
    pending.shift()?.resolve();
    await out.below(0);
    assert.equal(out.push(b("x")), true);
  });

  it("after a failed send it drops what comes and says so", async () => {
    const { socket, pending } = fakeSocket();
    const out = new Outbox(socket);
    out.push(b("lost"));
    pending.shift()?.reject(new Error("reset"));
    await out.below(0);
    assert.equal(out.failed, true);
    assert.equal(out.push(b("more")), true);
    assert.equal(out.queued, 0);
  });
});
