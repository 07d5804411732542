/**
 * `socketkit chat serve` as a child process, against members and connections that
 * misbehave: bytes that are not text, a 1 MB line, silent and dribbling connections, a
 * member that stops reading, more clients than --max-clients, and a connection flood. The
 * room must refuse what it cannot relay, drop whoever holds it up, and carry on for the
 * members that behave, with its memory and descriptors bounded.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { until } from "../helpers/net.ts";
import { fdCount, rssOf } from "../helpers/proc.ts";
import {
  flood,
  garbage,
  HostileClient,
  hugeLine,
  INVALID_UTF8,
  silentClient,
  slowloris,
  TELNET_IAC,
} from "./lib/hostile-client.ts";
import { closeSlackMs, mib, RSS_BOUND, sharedServer, T } from "./lib/server-process.ts";

const MAX_LINE = 8192;
const MAX_CLIENTS = 6;
const IDLE = 1;

/** Connects and takes `nick`; what was read so far stays readable through `text()`. */
async function member(t: TestContext, port: number, nick: string): Promise<HostileClient> {
  const client = await HostileClient.connect(port);
  t.after(() => client.destroy());
  await client.waitFor("Choose a nickname: ");
  await client.ask(`${nick}\r\n`, `You are ${nick}.`);
  return client;
}

describe("chat serve against hostile members", () => {
  const server = sharedServer([
    "chat",
    "serve",
    "--port",
    "0",
    "--max-line",
    String(MAX_LINE),
    "--rate",
    "100000",
    "--max-clients",
    String(MAX_CLIENTS),
    // Every client is on 127.0.0.1: the limit per address is not what these tests are about.
    "--max-per-host",
    "100000",
  ]);

  it(
    "relays garbage, invalid UTF-8 and telnet IAC as safe text, refuses a 1 MB line with an error, and the room carries on with flat memory",
    T,
    async (t) => {
      const { port, pid } = server();
      const alice = await member(t, port, "alice");
      const mallory = await member(t, port, "mallory");
      const burst = async (round: number) => {
        await mallory.write(garbage(64 * 1024));
        await mallory.write(Buffer.concat([Buffer.from("\n"), INVALID_UTF8]));
        await mallory.write(TELNET_IAC);
        await mallory.write(hugeLine());
        await mallory.write(`done ${round}\n`);
        await alice.waitFor(`<mallory> done ${round}\r\n`);
      };
      await burst(0);
      const before = rssOf(pid);
      for (let round = 1; round <= 5; round++) {
        await burst(round);
        await alice.ask(`/msg mallory hi ${round}\n`, `(private to mallory) <alice> hi ${round}`);
      }
      const grew = rssOf(pid) - before;
      t.diagnostic(`server RSS grew ${mib(grew)}`);
      assert.ok(grew < RSS_BOUND, `server RSS grew ${mib(grew)}`);
      const seen = alice.text();
      assert.match(seen, /<mallory> bad:\uFFFD\|/, "invalid UTF-8 shown as U+FFFD");
      // "iac" then IAC IP (telnet's Ctrl-C), which drops the line being typed, then "data".
      assert.match(seen, /<mallory> data\uFFFD\r\n/, "telnet's bytes filtered out");
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
      const raw = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f\u202e]/;
      assert.equal(raw.test(seen), false, "no control character reaches another member");
      assert.equal(seen.includes("x".repeat(100)), false, "nothing of the 1 MB line relayed");
      assert.match(mallory.text(), /error: line longer than 8192 bytes, not sent\r\n/);
      assert.equal(mallory.isClosed, false, "the sender of bad input stays a member");
      await Promise.all([alice, mallory].map(leave));
    },
  );

  it(
    "tells clients beyond --max-clients that the room is full and closes them; the members carry on",
    T,
    async (t) => {
      const { port } = server();
      const members = [];
      for (let i = 0; i < MAX_CLIENTS; i++) members.push(await member(t, port, `m${i}`));
      const extra = await flood(port, { count: 10, drop: "keep", concurrency: 10 });
      t.after(() => extra.closeAll());
      // Every one of them connected, so the checks below cover all ten.
      assert.equal(extra.clients.length, 10);
      for (const c of extra.clients) {
        const closure = await c.closed;
        assert.equal(closure.by, "server");
        assert.equal(c.text(), `error: the room is full (${MAX_CLIENTS} members)\r\n`);
      }
      const [first, last] = [members[0], members.at(-1)] as [HostileClient, HostileClient];
      await first.write("still here\n");
      await last.waitFor("<m0> still here");
      // One leaves: the next one gets in.
      await leave(first);
      const newcomer = await member(t, port, "newcomer");
      await Promise.all([...members.slice(1), newcomer].map(leave));
    },
  );

  it(
    "drops a member that stops reading once its queue is full; the others get every message",
    T,
    async (t) => {
      const { port, pid } = server();
      const sender = await member(t, port, "sender");
      const reader = await member(t, port, "reader");
      const stuck = await member(t, port, "stuck");
      stuck.socket.pause(); // reads nothing from now on
      await reader.waitFor("*** stuck joined");
      const before = rssOf(pid);
      const line = "y".repeat(MAX_LINE - 100);
      let sent = 0;
      // Until the stuck member is dropped (its queue and the kernel's buffers full).
      while (!sender.text().includes("*** stuck left") && sent < 5000) {
        await sender.write(`${sent} ${line}\n`);
        sent++;
        if (sent % 20 === 0) await reader.waitFor(`<sender> ${sent - 1} `);
      }
      await reader.waitFor(`<sender> ${sent - 1} `);
      assert.match(reader.text(), /\*\*\* stuck left \(disconnected: not reading\)/);
      const got = reader.text().match(/<sender> \d+ y+\r\n/g) ?? [];
      assert.equal(got.length, sent, "the reader got every message");
      const grew = rssOf(pid) - before;
      t.diagnostic(`${sent} lines of ${MAX_LINE - 100} bytes until the drop; RSS +${mib(grew)}`);
      assert.ok(grew < RSS_BOUND, `server RSS grew ${mib(grew)}`);
      await Promise.all([sender, reader].map(leave));
    },
  );

  it(
    "2,100 connections opened and dropped (FIN, RST, half-close) leave no descriptor behind",
    T,
    async (t) => {
      const { port, pid, startFds } = server();
      await until(
        () => fdCount(pid) <= startFds,
        `descriptors back to ${startFds} before the flood`,
      );
      for (const drop of ["end", "close", "reset"] as const) {
        const result = await flood(port, { count: 700, drop, concurrency: 100 });
        assert.deepEqual([...result.failed], [], `${drop}: connections failed`);
        t.diagnostic(`700 connections, ${drop}: ${Math.round(result.ms)} ms`);
      }
      await until(() => fdCount(pid) <= startFds, `descriptors back to ${startFds}`, 10_000);
      await member(t, port, "afterwards");
    },
  );
});

describe("chat serve --idle-timeout against silent and dribbling clients", () => {
  const server = sharedServer(["chat", "serve", "--port", "0", "--idle-timeout", String(IDLE)]);

  it(
    "closes a client that says nothing and a slowloris slower than the timeout; an active member stays",
    T,
    async (t) => {
      const { port } = server();
      const active = await member(t, port, "active");
      const silent = await silentClient(port);
      t.after(() => silent.destroy());
      const slow = await slowloris(port, { periodMs: IDLE * 1000 + 1500, payload: "slowpoke" });
      t.after(() => slow.stop());
      let n = 0;
      while (!silent.isClosed || !slow.client.isClosed) {
        await active.ask("/who\n", "*** Online");
        n++;
        const open = [silent, slow.client].filter((c) => !c.isClosed);
        await Promise.race([turn(IDLE * 250), ...open.map((c) => c.closed)]);
      }
      const s = await silent.closed;
      assert.equal(s.by, "server");
      assert.ok(s.afterMs >= IDLE * 1000 - 50, `silent client closed after ${s.afterMs} ms`);
      assert.ok(s.afterMs < IDLE * 1000 + closeSlackMs(IDLE), `closed after ${s.afterMs} ms`);
      const l = await slow.closed;
      assert.equal(l.by, "server");
      const quiet = l.afterLastSendMs as number;
      assert.ok(quiet >= IDLE * 1000 - 50, `slowloris closed ${quiet} ms after its last byte`);
      assert.ok(quiet < IDLE * 1000 + closeSlackMs(IDLE), `closed ${quiet} ms after its last byte`);
      assert.equal(active.isClosed, false);
      await active.ask("/who\n", "*** Online (1): active");
      t.diagnostic(`the active member asked ${n} times meanwhile`);
    },
  );
});

describe("chat serve against a client that holds a connection without being idle", () => {
  const server = sharedServer(["chat", "serve", "--port", "0", "--idle-timeout", String(IDLE)]);

  it(
    "closes a slowloris that never finishes a line, however often it sends a byte, telling it why",
    T,
    async (t) => {
      const { port, stderr } = server();
      const slow = await member(t, port, "slowpoke");
      t.after(() => slow.destroy());
      // A byte every quarter of the idle timeout: never idle, and never a pause long
      // enough to end the line either.
      let sent = 0;
      const dribble = setInterval(
        () => {
          if (!slow.isClosed) void slow.write("z");
          sent++;
        },
        (IDLE * 1000) / 4,
      );
      t.after(() => clearInterval(dribble));
      const bound = 3 * IDLE * 1000 + closeSlackMs(IDLE);
      const closed = await Promise.race([slow.closed, turn(bound).then(() => null)]);
      clearInterval(dribble);
      assert.ok(closed !== null, `still open after ${bound} ms and ${sent} bytes`);
      assert.equal(closed.by, "server");
      assert.match(slow.text(), /error: line not finished within 1 s\r\n\*\*\* Bye\.\r\n$/);
      await until(
        () => stderr().includes("slowpoke left (disconnected: a line took too long)"),
        "the line about it",
      );
    },
  );
});

/** Leaves with /quit and waits until the server closed the connection. */
async function leave(client: HostileClient): Promise<void> {
  await client.ask("/quit\n", "*** Bye.");
  await client.closed;
}

/** One pause of `ms` for a member that talks now and then (not a synchronisation). */
function turn(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
