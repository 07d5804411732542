import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { type TestContext, test } from "node:test";
import { TransitRelay } from "./transit-relay.ts";

const TOKEN = "ab".repeat(32);

/** A raw client: everything it reads is kept; `until(text)` waits for it. */
async function client(t: TestContext, relay: TransitRelay) {
  const [host, port] = relay.address;
  const s: Socket = connect({ host, port });
  t.after(() => s.destroy());
  s.on("error", () => {});
  let got = Buffer.alloc(0);
  const ended = new Promise<void>((resolve) => s.once("close", () => resolve()));
  s.on("data", (d: Buffer) => {
    got = Buffer.concat([got, d]);
    s.emit("got");
  });
  await once(s, "connect");
  const until = async (text: string) => {
    while (!got.toString("latin1").includes(text)) {
      await Promise.race([
        once(s, "got"),
        ended.then(() => assert.fail(`closed before ${JSON.stringify(text)}: ${got}`)),
      ]);
    }
  };
  return { s, until, ended, got: () => got };
}

async function relay(t: TestContext, options = {}) {
  const r = await TransitRelay.listen({ port: 0, ...options });
  t.after(() => r.close());
  return r;
}

test("pairs two sides with the same token and pipes their bytes both ways", async (t) => {
  const r = await relay(t);
  const a = await client(t, r);
  const b = await client(t, r);
  a.s.write(`please relay ${TOKEN} for side 0123456789abcdef\n`);
  b.s.write(`please relay ${TOKEN} for side fedcba9876543210\n`);
  await a.until("ok\n");
  await b.until("ok\n");
  a.s.write("from a");
  b.s.write("from b");
  await b.until("ok\nfrom a");
  await a.until("ok\nfrom b");
  a.s.end();
  await b.ended;
  assert.equal(r.pairs, 1);
});

test("two connections of the same side are not paired", async (t) => {
  const r = await relay(t);
  const a = await client(t, r);
  const a2 = await client(t, r);
  const b = await client(t, r);
  a.s.write(`please relay ${TOKEN} for side 0123456789abcdef\n`);
  a2.s.write(`please relay ${TOKEN} for side 0123456789abcdef\n`);
  b.s.write(`please relay ${TOKEN} for side 1111111111111111\n`);
  await b.until("ok\n");
  assert.equal(r.pairs, 1);
});

test("a bad handshake is answered and closed, and the relay goes on", async (t) => {
  const r = await relay(t);
  const bad = await client(t, r);
  bad.s.write("GET / HTTP/1.1\r\n\r\n");
  await bad.until("bad handshake\n");
  await bad.ended;
  const a = await client(t, r);
  const b = await client(t, r);
  a.s.write(`please relay ${TOKEN}\n`);
  b.s.write(`please relay ${TOKEN}\n`);
  await a.until("ok\n");
  await b.until("ok\n");
});

test("a connection that never finishes its handshake is closed after handshakeTimeout", async (t) => {
  const r = await relay(t, { handshakeTimeout: 0.2 });
  const slow = await client(t, r);
  slow.s.write("please relay ");
  await slow.ended;
});

test("a connection waiting for its partner past waitTimeout is closed", async (t) => {
  const r = await relay(t, { waitTimeout: 0.2 });
  const lonely = await client(t, r);
  lonely.s.write(`please relay ${TOKEN} for side 0123456789abcdef\n`);
  await lonely.ended;
  assert.equal(lonely.got().length, 0);
});
