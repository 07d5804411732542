import assert from "node:assert/strict";
import { once } from "node:events";
import { type TestContext, test } from "node:test";
import WebSocket from "ws";
import { RendezvousServer, type RendezvousServerOptions } from "./rendezvous-server.ts";

/** A raw client: every message it gets is queued, `next(type)` waits for one of a type. */
class Raw {
  readonly ws: WebSocket;
  readonly #queue: Record<string, unknown>[] = [];
  #wake: (() => void) | null = null;
  closed = false;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data) => {
      this.#queue.push(JSON.parse(String(data)));
      this.#wake?.();
    });
    ws.on("close", () => {
      this.closed = true;
      this.#wake?.();
    });
    ws.on("error", () => {});
  }

  static async open(t: TestContext, url: string): Promise<Raw> {
    const raw = new Raw(new WebSocket(url));
    t.after(() => raw.ws.terminate());
    await raw.next("welcome");
    return raw;
  }

  send(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }

  async next(type: string): Promise<Record<string, unknown>> {
    for (;;) {
      const i = this.#queue.findIndex((m) => m.type === type);
      if (i !== -1) return this.#queue.splice(i, 1)[0] as Record<string, unknown>;
      if (this.closed) throw new Error(`closed while waiting for ${type}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}

async function server(t: TestContext, options: RendezvousServerOptions = {}) {
  const s = await RendezvousServer.listen({ port: 0, ...options });
  t.after(() => s.close());
  return s;
}

async function bound(t: TestContext, url: string, side: string, appid = "app"): Promise<Raw> {
  const raw = await Raw.open(t, url);
  raw.send({ type: "bind", appid, side, id: "1" });
  return raw;
}

test("allocates a one-digit nameplate, claims it, and fans messages out to both sides", async (t) => {
  const s = await server(t);
  const a = await bound(t, s.url, "aaaa");
  a.send({ type: "allocate", id: "2" });
  const { nameplate } = await a.next("allocated");
  assert.match(String(nameplate), /^[1-9]$/);
  a.send({ type: "claim", nameplate });
  const { mailbox } = await a.next("claimed");
  a.send({ type: "open", mailbox });
  a.send({ type: "add", phase: "pake", body: "abcd", id: "x" });
  assert.deepEqual(
    { ...(await a.next("message")), server_tx: 0, server_rx: 0 },
    {
      type: "message",
      side: "aaaa",
      phase: "pake",
      body: "abcd",
      id: "x",
      server_rx: 0,
      server_tx: 0,
    },
  );
  const list = await bound(t, s.url, "cccc");
  list.send({ type: "list" });
  assert.deepEqual((await list.next("nameplates")).nameplates, [{ id: nameplate }]);
  const b = await bound(t, s.url, "bbbb");
  b.send({ type: "claim", nameplate });
  assert.equal((await b.next("claimed")).mailbox, mailbox);
  b.send({ type: "open", mailbox });
  // What was added before it opened comes to it on open.
  assert.equal((await b.next("message")).side, "aaaa");
  b.send({ type: "add", phase: "pake", body: "00" });
  assert.equal((await a.next("message")).side, "bbbb");
  for (const [raw, side] of [
    [a, "aaaa"],
    [b, "bbbb"],
  ] as const) {
    raw.send({ type: "release", nameplate });
    await raw.next("released");
    raw.send({ type: "close", mailbox, mood: "happy" });
    await raw.next("closed");
    assert.ok(side);
  }
  assert.equal(s.counts.nameplates, 0);
  assert.equal(s.counts.mailboxes, 0);
});

test("a third side on a nameplate or a mailbox is told crowded", async (t) => {
  const s = await server(t);
  const sides = await Promise.all(["a1", "b2", "c3"].map((side) => bound(t, s.url, side)));
  for (const raw of sides.slice(0, 2)) {
    raw.send({ type: "claim", nameplate: "7" });
    await raw.next("claimed");
  }
  const third = sides[2] as Raw;
  third.send({ type: "claim", nameplate: "7" });
  const error = await third.next("error");
  assert.equal(error.error, "crowded");
  assert.deepEqual((error.orig as { type: string }).type, "claim");
});

test("requests out of order or malformed get an error, and the connection goes on", async (t) => {
  const s = await server(t);
  const raw = await Raw.open(t, s.url);
  raw.send({ type: "allocate" });
  assert.equal((await raw.next("error")).error, "must bind first");
  raw.ws.send("not json");
  assert.match(String((await raw.next("error")).error), /not JSON/);
  raw.send({ type: "bind", appid: "app", side: "s1" });
  raw.send({ type: "frobnicate" });
  assert.match(String((await raw.next("error")).error), /unknown type/);
  raw.send({ type: "add", phase: "0", body: "00" });
  assert.match(String((await raw.next("error")).error), /must open/);
  raw.send({ type: "ping", ping: 5 });
  assert.equal((await raw.next("pong")).pong, 5);
});

test("a mailbox holds a bounded number of messages", async (t) => {
  const s = await server(t, { maxMessagesPerMailbox: 3 });
  const raw = await bound(t, s.url, "s1");
  raw.send({ type: "open", mailbox: "abc" });
  for (let i = 0; i < 4; i++) raw.send({ type: "add", phase: String(i), body: "00" });
  for (let i = 0; i < 3; i++) await raw.next("message");
  assert.match(String((await raw.next("error")).error), /holds 3/);
});

test("a WebSocket message over maxMessageSize closes that connection only", async (t) => {
  const s = await server(t, { maxMessageSize: 1024 });
  const big = await bound(t, s.url, "s1");
  big.send({ type: "add", phase: "0", body: "00".repeat(1024) });
  await once(big.ws, "close");
  const other = await bound(t, s.url, "s2");
  other.send({ type: "ping", ping: 1 });
  assert.equal((await other.next("pong")).pong, 1);
});

test("connections from one address are bounded", async (t) => {
  const s = await server(t, { maxConnectionsPerAddress: 2 });
  await Raw.open(t, s.url);
  await Raw.open(t, s.url);
  const third = new WebSocket(s.url);
  t.after(() => third.terminate());
  third.on("error", () => {});
  const [code] = (await once(third, "close")) as [number];
  assert.equal(code, 1013);
});

test("a silent connection is closed after idleTimeout", async (t) => {
  const s = await server(t, { idleTimeout: 0.2 });
  const raw = await Raw.open(t, s.url);
  const [code] = (await once(raw.ws, "close")) as [number];
  assert.equal(code, 1000);
});

test("a nameplate and mailbox left unused are pruned after channelTimeout", async (t) => {
  const s = await server(t, { channelTimeout: 0.2 });
  const raw = await bound(t, s.url, "s1");
  raw.send({ type: "allocate" });
  await raw.next("allocated");
  raw.ws.close();
  await once(raw.ws, "close");
  const start = Date.now();
  while (s.counts.nameplates > 0) {
    assert.ok(Date.now() - start < 5000, "never pruned");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
