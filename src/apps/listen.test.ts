import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { PassThrough } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { deferred } from "../../test/helpers/deferred.ts";
import { closing, recvAll, until } from "../../test/helpers/net.ts";
import { allInterfacesWarning } from "../core/address.ts";
import { createConnection } from "../socket/create-connection.ts";
import { type ListenOptions, listen } from "./listen.ts";

const T = { timeout: 20_000 };

describe("allInterfacesWarning", () => {
  it("warns for every way of saying all interfaces, and only for those", () => {
    for (const host of ["", "0.0.0.0", "::", "::0", "0:0:0:0:0:0:0:0", "[::]"])
      assert.match(allInterfacesWarning(host) ?? "", /all interfaces/, host);
    for (const host of [
      "127.0.0.1",
      "::1",
      "localhost",
      "0:0:0:0:0:0:0:1",
      "10.0.0.1",
      "::ffff:1.2.3.4",
    ])
      assert.equal(allInterfacesWarning(host), null, host);
    assert.equal(allInterfacesWarning("", "/tmp/s.sock"), null, "a Unix socket is local");
  });
});

describe("listen with a signal that has aborted already", () => {
  for (const udp of [false, true]) {
    it(`returns at once instead of waiting for a client (${udp ? "UDP" : "TCP"})`, T, async () => {
      const input = new PassThrough();
      input.end();
      await listen(0, {
        udp,
        input,
        output: new PassThrough(),
        log: () => {},
        signal: AbortSignal.abort(),
      });
    });
  }
});

/** Runs `listen` in this process with piped input and output, until the test ends. */
async function listenHere(t: TestContext, options: ListenOptions) {
  const input = new PassThrough();
  const output = new PassThrough();
  const out: Buffer[] = [];
  output.on("data", (c: Buffer) => out.push(c));
  const lines: string[] = [];
  const ready = deferred<number>();
  const stop = new AbortController();
  const running = listen(0, {
    ...options,
    input,
    output,
    signal: stop.signal,
    log: (line) => {
      lines.push(line);
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
      if (m) ready.resolve(Number(m[1]));
    },
  });
  t.after(async () => {
    stop.abort();
    input.destroy();
    await running;
  });
  const port = await Promise.race([ready.promise, running.then(() => 0)]);
  const output_ = () => Buffer.concat(out).toString();
  const client = async () => closing(t, await createConnection(["127.0.0.1", port]));
  return { input, output: output_, lines, client };
}

describe("listen with keepOpen", () => {
  it(
    "serves clients at once: the input goes to all of them, all they send comes out",
    T,
    async (t) => {
      const { input, output, client } = await listenHere(t, { keepOpen: true });
      const a = await client();
      const b = await client();
      await a.sendall("from a\n");
      await b.sendall("from b\n");
      await until(
        () => output().includes("from a") && output().includes("from b"),
        "both clients heard",
      );
      input.write("to everyone\n");
      assert.equal((await a.makefile("r").readline()).toString(), "to everyone\n");
      assert.equal((await b.makefile("r").readline()).toString(), "to everyone\n");
      input.end();
      assert.equal((await a.recv(100)).length, 0, "the end of the input half-closes every client");
      assert.equal((await b.recv(100)).length, 0);
      const late = await client();
      assert.equal((await late.recv(100)).length, 0, "and the ones that come later");
      await late.sendall("late but heard\n");
      await until(() => output().includes("late but heard"), "the late client heard");
    },
  );

  it("drops a client that stops reading; the others get every byte", {
    timeout: 60_000,
  }, async (t) => {
    const { input, lines, client } = await listenHere(t, { keepOpen: true, stallMs: 300 });
    const stuck = await client(); // never reads
    const reader = await client();
    await stuck.sendall("x");
    await reader.sendall("y");
    const received = recvAll(reader);
    const chunk = randomBytes(64 * 1024);
    const hash = createHash("sha256");
    let sent = 0;
    const dropped = () =>
      lines.some((l) => /^dropped 127\.0\.0\.1:\d+: it is not reading$/.test(l));
    // Write until the stuck client is dropped, then a little more: the reader gets it all.
    for (let extra = 0; extra < 16 && sent < 512 * 1024 * 1024; ) {
      if (!input.write(chunk)) await once(input, "drain");
      hash.update(chunk);
      sent += chunk.length;
      if (dropped()) extra++;
    }
    input.end();
    assert.ok(dropped(), lines.join("\n"));
    const got = await received;
    assert.equal(got.length, sent);
    assert.equal(createHash("sha256").update(got).digest("hex"), hash.digest("hex"));
  });

  it(
    "closes a client over maxConns at once, logs it once per host, and takes one when a slot frees",
    T,
    async (t) => {
      const { lines, output, client } = await listenHere(t, { keepOpen: true, maxConns: 2 });
      const a = await client();
      const b = await client();
      await a.sendall("a");
      await b.sendall("b");
      const extra = await Promise.all([1, 2, 3].map(() => client()));
      for (const c of extra) assert.equal((await c.recv(100)).length, 0, "closed at once");
      const refused = lines.filter((l) => l.startsWith("refused "));
      assert.equal(refused.length, 1, `one line for the host: ${refused.join(" | ")}`);
      assert.match(refused[0] as string, /^refused 127\.0\.0\.1:\d+ \(2 clients already\)$/);
      await a.close();
      // The listener sees a leave a moment after it: the first tries may still be refused.
      let served = false;
      for (let attempt = 0; attempt < 50 && !served; attempt++) {
        const next = await client();
        await next.sendall(`next ${attempt}\n`);
        let closed = false;
        next.recv(100).then(
          () => {
            closed = true;
          },
          () => {
            closed = true;
          },
        );
        await until(() => closed || output().includes(`next ${attempt}`), "served or refused");
        served = output().includes(`next ${attempt}`);
      }
      assert.ok(served, "a client is served once a slot is free");
    },
  );

  it("closes a client idle for idleTimeout, logging it, while the others stay", T, async (t) => {
    const { lines, output, client } = await listenHere(t, { keepOpen: true, idleTimeout: 0.3 });
    const idle = await client();
    const started = performance.now();
    assert.equal((await idle.recv(100)).length, 0, "closed by the listener");
    const ms = performance.now() - started;
    assert.ok(ms >= 250 && ms < 2000, `closed after ${Math.round(ms)} ms`);
    await until(() => lines.some((l) => /: idle for 0\.3 s$/.test(l)), "the line about it");
    const next = await client();
    await next.sendall("still serving\n");
    await until(() => output().includes("still serving"), "a new client heard");
  });
});
