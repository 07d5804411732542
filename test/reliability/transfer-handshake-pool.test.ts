/**
 * `receive` (the library function, in this process) waiting for its sender while silent
 * connections hold handshakes open: each sends the first two bytes of a preamble and
 * stays. They delay the sender, never shut it out: past 32 handshakes the oldest of the
 * busiest host is dropped, so a sender after them, or before them from another host,
 * gets in within a few seconds. A host whose secret did not match is refused for a while,
 * in one line.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { receive, send } from "../../src/apps/transfer/index.ts";
import { encodePreamble } from "../../src/codec/transfer-codec.ts";
import { tempDir, until } from "../helpers/net.ts";
import { FaultProxy } from "./lib/fault-proxy.ts";
import { garbage, HostileClient } from "./lib/hostile-client.ts";
import { T } from "./lib/server-process.ts";

/** Silent connections opened, more than the 32 handshakes `receive` runs at once. */
const SILENT = 40;
/** Handshakes `receive` runs side by side (its default). */
const POOL = 32;
/** The first bytes of a preamble (its magic is "SKXF"): a transfer peer, so far. */
const PARTIAL_PREAMBLE = Buffer.from("SK");
/** How long the real sender may take, silent connections or not. */
const FEW_SECONDS = 3000;

/** A `receive` into a new folder, its log lines kept; stopped when the test ends. */
async function receiving(t: TestContext, options: { secret?: string } = {}) {
  const dir = await tempDir(t);
  const lines: string[] = [];
  const stop = new AbortController();
  let listening!: (port: number) => void;
  const bound = new Promise<number>((resolve) => {
    listening = resolve;
  });
  const done = receive({
    ...options,
    dir,
    signal: stop.signal,
    log: (line) => lines.push(line),
    onListening: ([, port]) => listening(port),
  });
  t.after(async () => {
    stop.abort();
    await done.catch(() => {});
  });
  return { dir, lines, done, port: await bound };
}

/** A file for the real sender, with `bytes` of content. */
async function fileToSend(t: TestContext, name: string, bytes = 100_000) {
  const data = garbage(bytes);
  const file = join(await tempDir(t), name);
  writeFileSync(file, data);
  return { file, data };
}

/**
 * `n` connections, one after another (so `receive` takes them in this order), from
 * `from`, each sending the start of a preamble and then nothing; closed when the test ends.
 */
async function silentPeers(t: TestContext, port: number, n: number, from?: string) {
  const clients: HostileClient[] = [];
  for (let i = 0; i < n; i++) {
    const client = await HostileClient.connect(port, { from });
    t.after(() => client.destroy());
    await client.write(PARTIAL_PREAMBLE);
    clients.push(client);
  }
  return clients;
}

/**
 * Waits until `receive` has taken every one of `clients` (each got its preamble) and
 * closed `dropped` of them to make room.
 */
async function taken(clients: HostileClient[], dropped: number): Promise<void> {
  await until(
    () =>
      clients.every((c) => c.bytesReceived >= 8) &&
      clients.filter((c) => c.isClosed).length >= dropped,
    `receive to take the ${clients.length} silent connections and drop ${dropped}`,
  );
}

/** Whether this machine can connect from 127.0.0.2 (Linux can, macOS needs an alias). */
async function secondLoopback(): Promise<boolean> {
  const server = createServer();
  server.on("error", () => {});
  server.listen(0, "127.0.0.2");
  await Promise.race([once(server, "listening"), once(server, "error")]);
  const works = server.listening;
  if (works) {
    server.close();
    await once(server, "close");
  }
  return works;
}

/** Asserts that none of the silent connections got past the preamble, and all are closed. */
async function assertNoneWon(silent: HostileClient[]): Promise<void> {
  const closures = await Promise.all(silent.map((c) => c.closed));
  for (const [i, c] of silent.entries()) {
    assert.equal(closures[i]?.by, "server", `silent ${i}: closed by receive`);
    assert.ok(c.received().equals(encodePreamble("receiver")), `silent ${i}: the preamble only`);
  }
}

describe("receive waiting for its sender behind silent connections", () => {
  it(
    "takes a sender that comes after 40 silent connections within a few seconds, dropping the oldest of them",
    T,
    async (t) => {
      const { dir, lines, done, port } = await receiving(t);
      const { file, data } = await fileToSend(t, "after.bin");
      const silent = await silentPeers(t, port, SILENT);
      await taken(silent, SILENT - POOL);
      assert.deepEqual(
        silent.map((c) => c.isClosed),
        silent.map((_, i) => i < SILENT - POOL),
        "the oldest were dropped to make room, the others wait",
      );
      const started = performance.now();
      const sent = await send([file], ["127.0.0.1", port], { log: () => {} });
      const ms = performance.now() - started;
      t.diagnostic(`the sender got in and sent in ${ms.toFixed(0)} ms behind ${SILENT} silent`);
      assert.ok(ms < FEW_SECONDS, `the sender took ${ms.toFixed(0)} ms`);
      const summary = await done;
      assert.equal(summary?.sha256, sent.sha256, "receive's transfer is the sender's");
      assert.ok(readFileSync(join(dir, "after.bin")).equals(data), "byte-exact");
      await assertNoneWon(silent);
      assert.ok(
        lines.some((l) =>
          /^ignored 127\.0\.0\.1:\d+: dropped for a newer connection \(32 handshakes in progress\)$/.test(
            l,
          ),
        ),
        lines.join("\n"),
      );
    },
  );

  it(
    "keeps the handshake of a sender when 40 silent connections from another host come after it",
    T,
    async (t) => {
      if (!(await secondLoopback())) {
        t.skip("cannot connect from 127.0.0.2 here");
        return;
      }
      const { dir, done, port } = await receiving(t);
      const { file, data } = await fileToSend(t, "before.bin");
      // The sender's bytes are held on the way: its handshake stays unfinished, the
      // oldest in the pool, while the silent connections come.
      const proxy = await FaultProxy.start(["127.0.0.1", port], { upstream: { stall: true } });
      t.after(() => proxy.close());
      const sending = send([file], ["127.0.0.1", proxy.port], { log: () => {} });
      await until(
        () => proxy.counters.downstream.forwarded >= 8,
        "receive to begin the sender's handshake (its preamble reached the sender)",
      );
      const silent = await silentPeers(t, port, SILENT, "127.0.0.2");
      // The sender and 31 silent ones fill the pool: each silent one past them drops the
      // oldest of its own host, which has the most.
      await taken(silent, SILENT - (POOL - 1));
      assert.deepEqual(
        silent.map((c) => c.isClosed),
        silent.map((_, i) => i < SILENT - (POOL - 1)),
        "the silent host's oldest were dropped, not the sender",
      );
      const started = performance.now();
      proxy.set("upstream", { stall: false });
      const sent = await sending;
      const ms = performance.now() - started;
      t.diagnostic(`the sender finished ${ms.toFixed(0)} ms after its bytes were let through`);
      assert.ok(ms < FEW_SECONDS, `the sender took ${ms.toFixed(0)} ms`);
      const summary = await done;
      assert.equal(summary?.sha256, sent.sha256, "receive's transfer is the sender's");
      assert.ok(readFileSync(join(dir, "before.bin")).equals(data), "byte-exact");
      await assertNoneWon(silent);
    },
  );

  it(
    "refuses a host for a second after a secret that does not match, says so once, then takes it again",
    T,
    async (t) => {
      const { dir, lines, done, port } = await receiving(t, { secret: "correct horse" });
      const { file, data } = await fileToSend(t, "secret.bin", 1000);
      const to: [string, number] = ["127.0.0.1", port];
      await assert.rejects(send([file], to, { secret: "wrong", log: () => {} }), {
        code: "ERR_TRANSFER_AUTH",
      });
      await until(
        () => lines.some((l) => l.startsWith("ignored 127.0.0.1:")),
        "the line about the failed secret",
      );
      const failedAt = performance.now();
      // Within the backoff, even the right secret is closed before any handshake.
      await assert.rejects(send([file], to, { secret: "correct horse", log: () => {} }));
      await assert.rejects(send([file], to, { secret: "correct horse", log: () => {} }));
      assert.deepEqual(
        lines.filter((l) => l.startsWith("refusing ")),
        ["refusing 127.0.0.1 for 1 s after 1 failed secret"],
        "one line for the backoff",
      );
      await until(() => performance.now() - failedAt >= 1000, "the end of the backoff", 3000);
      const sent = await send([file], to, { secret: "correct horse", log: () => {} });
      assert.equal((await done)?.sha256, sent.sha256);
      assert.ok(readFileSync(join(dir, "secret.bin")).equals(data), "byte-exact");
    },
  );
});
