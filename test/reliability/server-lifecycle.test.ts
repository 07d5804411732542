/**
 * How the servers start and stop, as child processes: SIGTERM with live sessions (they
 * finish within the grace period, the rest are closed, exit 0), a port another program
 * holds, and clients whose server is not there (one line on stderr, exit 1).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Channel } from "../../src/apps/transfer/channel.ts";
import { stagedPath } from "../../src/apps/transfer/dest-dir.ts";
import { send } from "../../src/apps/transfer/index.ts";
import { encodeMessage, encodePreamble } from "../../src/codec/transfer-codec.ts";
import { createConnection } from "../../src/socket/create-connection.ts";
import { closedPort, netServer, tempDir, until } from "../helpers/net.ts";
import { socketkit } from "../helpers/proc.ts";
import { HostileClient } from "./lib/hostile-client.ts";
import { MiB, T, testServer } from "./lib/server-process.ts";

/** `serve`'s grace period (src/apps/serve.ts) and the chat's (src/apps/chat/server.ts), in ms. */
const SERVE_GRACE_MS = 5000;
const CHAT_GRACE_MS = 2000;
/** What a loaded machine may add to a stop: the event loop, the process exit. */
const STOP_SLACK_MS = 3000;
const HELLO = encodeMessage({ t: "hello", auth: false });
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A connection, closed when the test ends. */
async function client(t: TestContext, port: number): Promise<HostileClient> {
  const c = await HostileClient.connect(port);
  t.after(() => c.destroy());
  return c;
}

/** Waits until connecting to `port` is refused (the server stopped listening). */
async function refusedSoon(port: number, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      const c = await HostileClient.connect(port);
      c.destroy();
      await c.closed;
    } catch (err) {
      const { code } = err as NodeJS.ErrnoException;
      if (code === "ECONNREFUSED") return;
      // Completed by the kernel as the listening socket closed, then reset: try again.
      if (code !== "ECONNRESET") throw err;
    }
    if (performance.now() > deadline) assert.fail(`port ${port} still accepts after ${ms} ms`);
  }
}

// Every test starts its own processes: they run side by side.
describe("socketkit servers start and stop", { concurrency: true }, () => {
  describe("SIGTERM with live sessions", { concurrency: true }, () => {
    it(
      "serve echo stops accepting, keeps answering clients mid-conversation, and exits 0 once they leave",
      T,
      async (t) => {
        const s = await testServer(t, ["serve", "echo", "--port", "0"]);
        const clients = await Promise.all([0, 1, 2, 3, 4].map(() => client(t, s.port)));
        await Promise.all(clients.map((c, i) => c.ask(`hello ${i}\n`, `hello ${i}\n`)));
        const signalled = performance.now();
        s.program.child.kill("SIGTERM");
        await refusedSoon(s.port);
        await Promise.all(clients.map((c, i) => c.ask(`still ${i}\n`, `still ${i}\n`)));
        for (const c of clients) c.end();
        const closures = await Promise.all(clients.map((c) => c.closed));
        assert.equal(await s.program.exited, 0, s.stderr());
        const ms = performance.now() - signalled;
        assert.ok(ms < SERVE_GRACE_MS, `exited ${Math.round(ms)} ms after SIGTERM`);
        for (const [i, c] of closures.entries()) {
          assert.equal(c.by, "server", `client ${i}: closed after its last echo`);
          assert.equal(c.bytesReceived, c.bytesSent, `client ${i}: every byte echoed`);
        }
        assert.equal(
          s.stderr().trim().split("\n").length,
          1,
          `only the listening line: ${s.stderr()}`,
        );
      },
    );

    it(
      "serve echo closes the sessions that outstay the grace period, and exits 0",
      T,
      async (t) => {
        const s = await testServer(t, ["serve", "echo", "--port", "0"]);
        const clients = await Promise.all([0, 1, 2].map(() => client(t, s.port)));
        await Promise.all(clients.map((c, i) => c.ask(`hello ${i}\n`, `hello ${i}\n`)));
        const signalled = performance.now();
        s.program.child.kill("SIGTERM");
        const closures = await Promise.all(clients.map((c) => c.closed));
        assert.equal(await s.program.exited, 0, s.stderr());
        const ms = performance.now() - signalled;
        assert.ok(ms >= SERVE_GRACE_MS - 100, `exited ${Math.round(ms)} ms after SIGTERM`);
        assert.ok(ms < SERVE_GRACE_MS + STOP_SLACK_MS, `exited ${Math.round(ms)} ms after SIGTERM`);
        for (const c of closures) assert.equal(c.by, "server");
      },
    );

    it(
      "chat serve says goodbye to every member mid-conversation, closes them, and exits 0 within its grace period",
      T,
      async (t) => {
        const s = await testServer(t, ["chat", "serve", "--port", "0"]);
        const members: HostileClient[] = [];
        for (const nick of ["alice", "bob", "carol"]) {
          const m = await client(t, s.port);
          await m.waitFor("Choose a nickname: ");
          await m.ask(`${nick}\n`, `You are ${nick}.`);
          members.push(m);
        }
        const [alice, bob, carol] = members as [HostileClient, HostileClient, HostileClient];
        await alice.write("and another thing\n");
        await Promise.all([bob, carol].map((m) => m.waitFor("<alice> and another thing")));
        const signalled = performance.now();
        s.program.child.kill("SIGTERM");
        await Promise.all(
          members.map((m) => m.waitFor("*** The server is shutting down. Bye.\r\n")),
        );
        const closures = await Promise.all(members.map((m) => m.closed));
        assert.equal(await s.program.exited, 0, s.stderr());
        const ms = performance.now() - signalled;
        assert.ok(ms < CHAT_GRACE_MS + STOP_SLACK_MS, `exited ${Math.round(ms)} ms after SIGTERM`);
        for (const c of closures) assert.equal(c.by, "server");
      },
    );

    it("share and receive waiting for a peer exit 0 at once", T, async (t) => {
      const dir = await tempDir(t);
      writeFileSync(join(dir, "f.txt"), "x");
      const servers = await Promise.all([
        testServer(t, ["share", join(dir, "f.txt"), "--port", "0"]),
        testServer(t, ["receive", "--port", "0", "--dir", dir]),
      ]);
      for (const s of servers) s.program.child.kill("SIGTERM");
      for (const s of servers) {
        assert.equal(await s.program.exited, 0, s.stderr());
        assert.equal(
          s.stderr().trim().split("\n").length,
          1,
          `only the listening line: ${s.stderr()}`,
        );
      }
    });

    it(
      "share and receive end a transfer in progress within a grace period on SIGTERM",
      T,
      async (t) => {
        const dir = await tempDir(t);
        writeFileSync(join(dir, "f.txt"), "x");
        const servers = await Promise.all([
          testServer(t, ["share", join(dir, "f.txt"), "--port", "0"]),
          testServer(t, ["receive", "--port", "0", "--dir", dir]),
        ]);
        // A peer that has done the handshake and then waits (well within --timeout).
        const peers = await Promise.all(
          servers.map(async (s, i) => {
            const c = await client(t, s.port);
            const role = i === 0 ? "receiver" : "sender";
            await c.write(Buffer.concat([encodePreamble(role), HELLO]));
            await c.waitFor((got) => got.length >= 8 + HELLO.length);
            return c;
          }),
        );
        const signalled = performance.now();
        for (const s of servers) s.program.child.kill("SIGTERM");
        const within = SERVE_GRACE_MS + STOP_SLACK_MS;
        const exits = await Promise.all(
          servers.map((s) =>
            Promise.race([s.program.exited, new Promise((r) => setTimeout(r, within, "running"))]),
          ),
        );
        const ms = performance.now() - signalled;
        for (const p of peers) p.destroy();
        t.diagnostic(`exited ${Math.round(ms)} ms after SIGTERM`);
        assert.deepEqual(exits, [0, 0], `${Math.round(ms)} ms after SIGTERM`);
        assert.ok(ms >= SERVE_GRACE_MS - 100, `the grace period was given: ${Math.round(ms)} ms`);
        for (const s of servers) {
          const lines = s.stderr().trimEnd().split("\n");
          assert.equal(lines.length, 2, lines.join(" | "));
          assert.match(
            lines[1] as string,
            /^Stopped: the transfer with 127\.0\.0\.1:\d+ did not end within the 5 s grace period; /,
          );
        }
        // The receiver tells its sender why.
        assert.match(peers[1]?.text() ?? "", /"code":"ERR_TRANSFER_STOPPED"/);
      },
    );

    it(
      "receive finishes a transfer that ends within the grace period, and keeps the partial file of one cut after it, for the same send to resume",
      T,
      async (t) => {
        const src = await tempDir(t);
        const data = randomBytes(3 * MiB);
        writeFileSync(join(src, "f.bin"), data);
        const dst = await tempDir(t);
        /** A sender by hand: handshake, `file`, `data`, the first `first` bytes, then waits. */
        const sender = async (port: number, first: number) => {
          const conn = await createConnection(["127.0.0.1", port]);
          t.after(() => conn.close());
          const channel = new Channel(conn, "sender", "test", null);
          t.after(() => channel.close());
          await channel.handshake(null);
          await channel.send({ t: "file", path: "f.bin", size: data.length, exec: false });
          await channel.expect("offer");
          await channel.send({ t: "data", from: 0 });
          await conn.sendall(data.subarray(0, first));
          return { conn, channel };
        };
        // The receiver writes in batches of 1 MiB: a partial file of that size shows the
        // transfer under way.
        const part = join(dst, stagedPath("f.bin"));
        const written = () => (existsSync(part) ? statSync(part).size : 0);
        // Within the grace period: the rest comes after SIGTERM, and the file is whole.
        const first = await testServer(t, ["receive", "--port", "0", "--dir", dst]);
        const a = await sender(first.port, 1.5 * MiB);
        await until(() => written() >= MiB, "the partial file");
        first.program.child.kill("SIGTERM");
        await a.conn.sendall(data.subarray(1.5 * MiB));
        await a.channel.send({ t: "done", sha256: sha256(data) });
        await a.channel.expect("ok");
        await a.channel.send({ t: "end", files: 1, bytes: data.length });
        await a.channel.expect("bye");
        assert.equal(await first.program.exited, 0, first.stderr());
        assert.match(first.stderr(), /\nreceived f\.bin, 3145728 bytes/);
        assert.ok(readFileSync(join(dst, "f.bin")).equals(data));
        // Cut after it: the partial file stays, and the same send resumes from it.
        rmSync(join(dst, "f.bin"));
        const second = await testServer(t, ["receive", "--port", "0", "--dir", dst]);
        await sender(second.port, 1.5 * MiB);
        await until(() => written() >= MiB, "the partial file");
        const signalled = performance.now();
        second.program.child.kill("SIGTERM");
        assert.equal(await second.program.exited, 0, second.stderr());
        const ms = performance.now() - signalled;
        assert.ok(ms >= SERVE_GRACE_MS - 100 && ms < SERVE_GRACE_MS + STOP_SLACK_MS, `${ms} ms`);
        assert.match(
          second.stderr(),
          /\nStopped: .* grace period; what arrived is kept in \.socketkit-partial/,
        );
        const kept = written();
        assert.ok(kept >= MiB, `the partial file is kept (${kept} bytes)`);
        const third = await testServer(t, ["receive", "--port", "0", "--dir", dst]);
        const sent = await send([join(src, "f.bin")], ["127.0.0.1", third.port], { log: () => {} });
        assert.equal(sent.bytes, data.length - kept, "only the rest was sent");
        assert.equal(await third.program.exited, 0, third.stderr());
        assert.ok(readFileSync(join(dst, "f.bin")).equals(data));
      },
    );
  });

  describe("a port another program holds", { concurrency: true }, () => {
    it(
      "serve, chat serve, receive and share each say the address is in use in one line and exit 1",
      T,
      async (t) => {
        const { port } = await netServer(t, (s) => s.destroy());
        const dir = await tempDir(t);
        writeFileSync(join(dir, "f.txt"), "x");
        const commands = [
          ["serve", "echo", "--port", String(port)],
          ["chat", "serve", "--port", String(port)],
          ["receive", "--port", String(port), "--dir", dir],
          ["share", join(dir, "f.txt"), "--port", String(port)],
        ];
        const runs = commands.map((args) => {
          const p = socketkit(args, "");
          t.after(() => p.stop());
          return { args, p };
        });
        for (const { args, p } of runs) {
          assert.equal(await p.exited, 1, args.join(" "));
          assert.equal(
            p.stderr(),
            `socketkit: Cannot bind 127.0.0.1:${port}: address already in use\n`,
            args.join(" "),
          );
        }
      },
    );
  });

  describe("a client whose server is not there", { concurrency: true }, () => {
    it(
      "send, fetch, chat join and bench each say the connection was refused in one line and exit 1",
      T,
      async (t) => {
        const port = await closedPort();
        const dir = await tempDir(t);
        writeFileSync(join(dir, "f.txt"), "x");
        const commands = [
          ["send", join(dir, "f.txt"), "--to", `127.0.0.1:${port}`],
          ["fetch", "127.0.0.1", String(port), "--dir", dir],
          ["chat", "join", "127.0.0.1", String(port), "--nick", "bob", "--no-reconnect"],
          ["chat", "join", "127.0.0.1", String(port), "--nick", "bob"],
          ["bench", "127.0.0.1", String(port), "--duration", "1"],
        ];
        const runs = commands.map((args) => {
          const p = socketkit(args, "");
          t.after(() => p.stop());
          return { args, p };
        });
        for (const { args, p } of runs) {
          assert.equal(await p.exited, 1, args.join(" "));
          assert.equal(
            p.stderr(),
            `socketkit: Cannot connect to 127.0.0.1:${port}: connection refused\n`,
            args.join(" "),
          );
        }
      },
    );
  });
});
