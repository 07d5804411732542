/**
 * A wormhole whose connection to the rendezvous server is lost while it waits for its
 * peer connects again and resumes: cut by a proxy (RST) before the key exchange and while
 * waiting for a message, and with the server restarted (and so forgetting everything)
 * while the sender waits. 127.0.0.1 only.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { RendezvousServer } from "../../src/apps/wormhole/rendezvous-server.ts";
import { Wormhole } from "../../src/apps/wormhole/wormhole.ts";
import { until } from "../helpers/net.ts";
import { FaultProxy } from "../reliability/lib/fault-proxy.ts";

const T = { timeout: 60_000 };

/** A wormhole on `url` whose notices are kept, with a wait for the n-th reconnection. */
async function peer(t: TestContext, url: string) {
  const notices: string[] = [];
  let wake = () => {};
  const w = await Wormhole.connect(url, {
    timeout: 20,
    onNotice: (line) => {
      notices.push(line);
      wake();
    },
  });
  t.after(() => w.close());
  const reconnected = async (times: number) => {
    while (notices.filter((l) => /again$/.test(l)).length < times) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  return { w, notices, reconnected };
}

test(
  "cut while waiting for the peer and again while waiting for a message, both sides resume and see each message once",
  T,
  async (t) => {
    const server = await RendezvousServer.listen({ host: "127.0.0.1", port: 0 });
    t.after(() => server.close());
    const proxy = await FaultProxy.start(server.address);
    t.after(() => proxy.close());
    const url = `ws://127.0.0.1:${proxy.port}/v1`;
    const a = await peer(t, url);
    const code = await a.w.allocateCode(2);
    const aKeyed = a.w.establish();
    await until(() => server.counts.mailboxes === 1, "the sender's mailbox");
    // Before the key exchange: the sender's only connection is cut.
    proxy.resetAll();
    await a.reconnected(1);
    assert.match(a.notices[0] as string, /^Lost the rendezvous server \(.*\); connecting again$/);
    const b = await peer(t, url);
    await b.w.setCode(code);
    await Promise.all([aKeyed, b.w.establish()]);
    a.w.send({ n: 0 });
    assert.deepEqual(await b.w.receive(), { n: 0 });
    // While the receiver waits for the next message: both connections cut, and the sender
    // sends while it has none (the message goes once it is back).
    const next = b.w.receive();
    proxy.resetAll();
    a.w.send({ n: 1 });
    assert.deepEqual(await next, { n: 1 }, "the next message, not one seen before again");
    await Promise.all([a.reconnected(2), b.reconnected(1)]);
    a.w.send({ n: 2 });
    assert.deepEqual(await b.w.receive(), { n: 2 });
    b.w.send({ ok: true });
    assert.deepEqual(await a.w.receive(), { ok: true });
    assert.ok(proxy.counters.connections >= 5, `${proxy.counters.connections} connections`);
    await Promise.all([a.w.close("happy"), b.w.close("happy")]);
    await until(() => server.counts.mailboxes === 0, "the mailbox closed by both");
  },
);

test(
  "a server restarted while the sender waits: the sender claims its nameplate again, and the receiver finds it",
  T,
  async (t) => {
    let server = await RendezvousServer.listen({ host: "127.0.0.1", port: 0 });
    t.after(() => server.close());
    const port = server.address[1];
    const url = `ws://127.0.0.1:${port}/v1`;
    const a = await peer(t, url);
    const code = await a.w.allocateCode(2);
    const aKeyed = a.w.establish();
    await until(() => server.counts.mailboxes === 1, "the sender's mailbox");
    await server.close();
    server = await RendezvousServer.listen({ host: "127.0.0.1", port });
    await a.reconnected(1);
    await until(() => server.counts.nameplates === 1, "the nameplate claimed again");
    const b = await peer(t, url);
    await b.w.setCode(code);
    await Promise.all([aKeyed, b.w.establish()]);
    a.w.send({ text: "after a restart" });
    assert.deepEqual(await b.w.receive(), { text: "after a restart" });
  },
);

test(
  "a server that stays away ends the wait in one error once reconnectTimeout is over",
  T,
  async (t) => {
    const server = await RendezvousServer.listen({ host: "127.0.0.1", port: 0 });
    const url = server.url;
    const w = await Wormhole.connect(url, { timeout: 5, reconnectTimeout: 1 });
    t.after(() => w.close());
    await w.allocateCode(2);
    const keyed = w.establish();
    await server.close();
    await assert.rejects(keyed, (err: Error & { code?: string }) => {
      assert.equal(err.code, "ERR_WORMHOLE_SERVER");
      assert.match(
        err.message,
        /^Lost the rendezvous server and cannot connect again within 1 s: /,
      );
      return true;
    });
  },
);
