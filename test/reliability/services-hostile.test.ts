/**
 * `socketkit serve echo|upper|command` as child processes, against clients that misbehave:
 * bytes no protocol expects, clients that dribble, stay silent, never read, or open
 * thousands of connections. The server must answer what it can, say what it refuses, keep
 * serving a client that behaves, and keep its memory and descriptors bounded.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { until } from "../helpers/net.ts";
import { fdCount, rssOf } from "../helpers/proc.ts";
import {
  exchange,
  flood,
  garbage,
  HostileClient,
  hugeLine,
  INVALID_UTF8,
  nonReader,
  silentClient,
  slowloris,
  TELNET_IAC,
  withoutTelnet,
} from "./lib/hostile-client.ts";
import {
  closeSlackMs,
  fdLimit,
  MiB,
  mib,
  RSS_BOUND,
  sharedServer,
  T,
} from "./lib/server-process.ts";

/** The idle timeout the servers run with, in seconds. */
const IDLE = 1;

/** The bad inputs every service is fed. */
const BAD_INPUTS: ReadonlyArray<readonly [string, Buffer]> = [
  // IAC left out: telnet's commands are the next input's, and each service then answers
  // in telnet, with the bytes after a command taken as it says.
  ["binary garbage", garbage(256 * 1024, { telnet: false })],
  ["invalid UTF-8", INVALID_UTF8],
  ["telnet IAC sequences", TELNET_IAC],
  ["a 1 MB line", hugeLine()],
];

/** A client that behaves: connected, and answered as the service should answer. */
async function politeClient(port: number, t: { after: (fn: () => void) => void }) {
  const client = await HostileClient.connect(port);
  t.after(() => client.destroy());
  return client;
}

/**
 * Sends every bad input at once, on connections of their own, `rounds` times after a
 * warm-up, while a polite client asks `ask(round)` and gets its answer: each bad input
 * must get `expected(input)` back before the server ends the connection, and the
 * server's memory must grow less than RSS_BOUND. Returns the polite client.
 */
async function burstsLeaveMemoryFlat(
  t: TestContext,
  { port, pid }: { port: number; pid: number },
  rounds: number,
  expected: (input: Buffer) => Buffer,
  ask: (round: number) => [question: string, answer: string],
): Promise<HostileClient> {
  const polite = await politeClient(port, t);
  const burst = async () => {
    const results = await Promise.all(BAD_INPUTS.map(([, data]) => exchange(port, data)));
    for (const [i, { received, closure }] of results.entries()) {
      const [name, data] = BAD_INPUTS[i] as readonly [string, Buffer];
      const want = expected(data);
      assert.ok(
        received.equals(want),
        `${name}: ${received.length} bytes back, ${want.length} due`,
      );
      assert.equal(closure.by, "server", `${name}: the server ends it after its answer`);
    }
  };
  await burst(); // warms up the server (code paths, buffers) before measuring
  const before = rssOf(pid);
  for (let round = 0; round < rounds; round++) {
    await Promise.all([burst(), polite.ask(...ask(round))]);
  }
  const grew = rssOf(pid) - before;
  t.diagnostic(
    `server RSS grew ${mib(grew)} over ${rounds} bursts of ${BAD_INPUTS.length} bad inputs`,
  );
  assert.ok(grew < RSS_BOUND, `server RSS grew ${mib(grew)}`);
  return polite;
}

describe("serve echo against hostile clients", () => {
  const server = sharedServer(["serve", "echo", "--port", "0", "--idle-timeout", String(IDLE)]);

  it(
    "returns garbage, invalid UTF-8, telnet IAC and a 1 MB line byte for byte, serves a polite client meanwhile, and keeps its memory flat",
    T,
    async (t) => {
      const polite = await burstsLeaveMemoryFlat(
        t,
        server(),
        8,
        (data) => data,
        (round) => [`round ${round}\n`, `round ${round}\n`],
      );
      await polite.ask("still here\n", "still here\n");
    },
  );

  it(
    "closes a silent client and a slowloris slower than --idle-timeout, while an active client stays",
    T,
    async (t) => {
      const { port, stderr } = server();
      const active = await politeClient(port, t);
      const silent = await silentClient(port);
      t.after(() => silent.destroy());
      // One byte, then nothing for longer than the idle timeout.
      const slow = await slowloris(port, { periodMs: IDLE * 1000 + 1500 });
      t.after(() => slow.stop());
      // The active client talks more often than the idle timeout, until both are closed.
      let n = 0;
      while (!silent.isClosed || !slow.client.isClosed) {
        await active.ask(`ping ${n}\n`, `ping ${n}\n`);
        n++;
        const open = [silent, slow.client].filter((c) => !c.isClosed);
        await Promise.race([turn(IDLE * 250), ...open.map((c) => c.closed)]);
      }
      const s = await silent.closed;
      assert.equal(s.by, "server");
      assert.ok(s.afterMs >= IDLE * 1000 - 50, `silent client closed after ${s.afterMs} ms`);
      assert.ok(
        s.afterMs < IDLE * 1000 + closeSlackMs(IDLE),
        `silent client closed after ${s.afterMs} ms`,
      );
      const l = await slow.closed;
      assert.equal(l.by, "server");
      assert.equal(l.bytesReceived, slow.sent, "what it sent was echoed");
      const quiet = l.afterLastSendMs as number;
      assert.ok(quiet >= IDLE * 1000 - 50, `slowloris closed ${quiet} ms after its last byte`);
      assert.ok(
        quiet < IDLE * 1000 + closeSlackMs(IDLE),
        `slowloris closed ${quiet} ms after its last byte`,
      );
      assert.equal(active.isClosed, false, "the active client is still connected");
      await active.ask("after\n", "after\n");
      await until(() => (stderr().match(/idle for 1 s/g) ?? []).length >= 2, "two idle lines");
    },
  );

  it(
    "holds back a client that sends and never reads: it stops taking bytes, memory stays flat, others are served, nothing is lost",
    T,
    async (t) => {
      const { port, pid } = server();
      const polite = await politeClient(port, t);
      await polite.ask("warm\n", "warm\n");
      const before = rssOf(pid);
      const hog = await nonReader(port, { bytes: 1024 * MiB });
      t.after(() => hog.client.destroy());
      // The server echoes until the hog's receive buffers are full, then stops reading it:
      // TCP flow control stops the hog within a few megabytes of kernel buffers.
      const flushed = await hog.stalled(500);
      const grew = rssOf(pid) - before;
      t.diagnostic(`the hog got ${mib(flushed)} out before it was held back; RSS +${mib(grew)}`);
      assert.ok(
        flushed < 128 * MiB,
        `the server took ${mib(flushed)} from a client that never reads`,
      );
      assert.ok(grew < RSS_BOUND, `server RSS grew ${mib(grew)}`);
      await polite.ask("others are served\n", "others are served\n");
      // Once it reads, every byte it got out comes back.
      hog.resume();
      hog.client.end();
      const closure = await hog.client.closed;
      assert.equal(closure.by, "server");
      assert.equal(closure.bytesReceived, closure.bytesSent);
    },
  );

  it(
    "10,000 connections opened and dropped (FIN, RST, half-close) leave no descriptor behind",
    T,
    async (t) => {
      const { port, pid, startFds: baseline } = server();
      // The connections of the tests before are gone (their clients closed them).
      await until(
        () => fdCount(pid) <= baseline,
        `descriptors back to ${baseline} before the flood`,
      );
      // 100 at a time: under the listen backlog (128), and within `ulimit -n` on both sides
      // (a quarter of the lower limit, should it be very low).
      const limit = Math.min(fdLimit(pid), fdLimit("self"));
      const concurrency = Math.max(1, Math.min(100, Math.floor(limit / 4)));
      if (concurrency < 100) t.diagnostic(`ulimit -n is ${limit}: ${concurrency} at a time`);
      const rounds = [
        { count: 4000, drop: "end" },
        { count: 3000, drop: "close" },
        { count: 3000, drop: "reset" },
      ] as const;
      let opened = 0;
      let peak = baseline;
      for (const round of rounds) {
        const result = await flood(port, { ...round, concurrency });
        assert.deepEqual([...result.failed], [], `${round.drop}: connections failed`);
        opened += result.opened;
        peak = Math.max(peak, fdCount(pid));
        t.diagnostic(`${round.count} connections, ${round.drop}: ${Math.round(result.ms)} ms`);
      }
      assert.equal(opened, 10_000);
      await until(() => fdCount(pid) <= baseline, `descriptors back to ${baseline}`, 10_000);
      t.diagnostic(`descriptors: ${baseline} before, at most ${peak} between rounds, back after`);
      const polite = await politeClient(port, t);
      await polite.ask("served after the flood\n", "served after the flood\n");
    },
  );

  it(
    "does not write a line to stderr for every connection a client resets, and names the peers it does",
    T,
    async () => {
      const { port, stderr } = server();
      const before = stderr().split("\n").length;
      const result = await flood(port, { count: 500, drop: "reset", concurrency: 100 });
      assert.equal(result.opened, 500);
      // The polite round trip orders it: the server has seen the resets before it answers.
      const polite = await HostileClient.connect(port);
      await polite.ask("ping\n", "ping\n");
      polite.destroy();
      const written = stderr()
        .split("\n")
        .slice(before - 1);
      assert.ok(written.length < 50, `${written.length} lines on stderr for 500 resets`);
      for (const line of written.filter((l) => /reset/.test(l) && !/not logged/.test(l))) {
        assert.match(line, /^127\.0\.0\.1:\d+: /, "the peer's address is kept");
      }
    },
  );
});

describe("serve upper against hostile clients", () => {
  const server = sharedServer(["serve", "upper", "--port", "0", "--idle-timeout", String(IDLE)]);

  it(
    "answers garbage, invalid UTF-8 (as U+FFFD), telnet IAC and a 1 MB line upper-cased, serves a polite client meanwhile, and keeps its memory flat",
    T,
    async (t) => {
      const { port } = server();
      await burstsLeaveMemoryFlat(
        t,
        server(),
        5,
        (data) => Buffer.from(data.toString("utf8").toUpperCase()),
        (round) => [`olá ${round}\n`, `OLÁ ${round}\n`],
      );
      const u = (await exchange(port, INVALID_UTF8)).received.toString("utf8");
      assert.equal(
        u,
        "BAD:\uFFFD|\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD|\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD\uFFFD|\uFFFD\n",
      );
    },
  );
});

describe("serve command against hostile clients", () => {
  const server = sharedServer(["serve", "command", "--port", "0", "--idle-timeout", String(IDLE)]);
  const PROMPT = "> ";

  it(
    "answers each bad line with an error line and goes on: garbage, invalid UTF-8, telnet IAC, a 1 MB line",
    T,
    async (t) => {
      const { port, pid } = server();
      const polite = await politeClient(port, t);
      await polite.waitFor(PROMPT);
      const session = async (name: string, data: Buffer) => {
        // The bad bytes, a line end in case they had none, then a command that must work.
        const { received, closure } = await exchange(
          port,
          Buffer.concat([data, Buffer.from("\necho fine\nquit\n")]),
        );
        // A peer whose bytes held a telnet command is answered in telnet too.
        const text = withoutTelnet(received).toString("utf8");
        assert.equal(closure.by, "server", name);
        assert.match(text, /^Hello! Type a command, or help\.\r\n> /, name);
        assert.match(
          text,
          /> error: (unknown command ".*" \(try help\)|line longer than 1024 bytes)\r\n/s,
          name,
        );
        assert.match(text, /> fine\r\n> bye\r\n$/, `${name}: the next command works`);
        // Nothing the client sent can act on a terminal: no ESC, no C1 CSI, no NUL.
        // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
        assert.equal(/[\x00\x1b\x9b]/.test(text), false, `${name}: control characters escaped`);
        return text;
      };
      const burst = () => Promise.all(BAD_INPUTS.map(([name, data]) => session(name, data)));
      const texts = await burst();
      assert.match(texts[3] as string, /> error: line longer than 1024 bytes\r\n/, "the 1 MB line");
      const before = rssOf(pid);
      for (let round = 0; round < 5; round++) {
        await Promise.all([burst(), polite.ask(`upper round ${round}\n`, `ROUND ${round}\r\n`)]);
      }
      const grew = rssOf(pid) - before;
      t.diagnostic(`server RSS grew ${mib(grew)}`);
      assert.ok(grew < RSS_BOUND, `server RSS grew ${mib(grew)}`);
    },
  );

  it("closes a client that connects and says nothing after --idle-timeout", T, async () => {
    const { port } = server();
    const silent = await silentClient(port);
    const closure = await silent.closed;
    assert.equal(closure.by, "server");
    assert.equal(silent.text(), "Hello! Type a command, or help.\r\n> ", "only the greeting");
    assert.ok(closure.afterMs >= IDLE * 1000 - 50, `closed after ${closure.afterMs} ms`);
    assert.ok(
      closure.afterMs < IDLE * 1000 + closeSlackMs(IDLE),
      `closed after ${closure.afterMs} ms`,
    );
  });
});

describe("serve --max-conns against a connection flood", () => {
  const server = sharedServer(["serve", "echo", "--port", "0", "--max-conns", "3"]);

  it(
    "closes connections beyond --max-conns at once, while the ones it holds keep working, and takes new ones when a slot frees",
    T,
    async (t) => {
      const { port } = server();
      const held = await Promise.all([0, 1, 2].map(() => politeClient(port, t)));
      // Each is being handled once it has been answered.
      await Promise.all(held.map((c, i) => c.ask(`held ${i}\n`, `held ${i}\n`)));
      const extra = await flood(port, { count: 20, drop: "keep", concurrency: 20 });
      t.after(() => extra.closeAll());
      const closures = await Promise.all(extra.clients.map((c) => c.closed));
      assert.equal(closures.length, 20);
      for (const c of closures) {
        assert.equal(c.by, "server", "refused by the server");
        assert.equal(c.bytesReceived, 0);
      }
      await Promise.all(held.map((c, i) => c.ask(`still ${i}\n`, `still ${i}\n`)));
      // One leaves: the next client is served.
      held[0]?.destroy();
      let served = false;
      for (let attempt = 0; attempt < 50 && !served; attempt++) {
        const next = await HostileClient.connect(port);
        t.after(() => next.destroy());
        await next.write("next\n");
        served = await Promise.race([
          next.waitFor("next\n").then(() => true),
          next.closed.then(() => false),
        ]);
      }
      assert.ok(served, "a client is served once a slot is free");
    },
  );
});

describe("serve against clients that hold a connection without being idle", {
  concurrency: true,
}, () => {
  const server = sharedServer(["serve", "command", "--port", "0", "--idle-timeout", String(IDLE)]);
  const PROMPT = "> ";

  it(
    "closes a slowloris that never completes a line, however often it sends a byte",
    T,
    async (t) => {
      const { port } = server();
      const slow = await slowloris(port, { periodMs: (IDLE * 1000) / 4 });
      t.after(() => slow.stop());
      const bound = 3 * IDLE * 1000 + closeSlackMs(IDLE);
      const closed = await Promise.race([slow.closed, turn(bound).then(() => null)]);
      assert.ok(closed !== null, `still open after ${bound} ms and ${slow.sent} bytes`);
      assert.equal(closed.by, "server");
      assert.ok(closed.afterMs >= IDLE * 1000 - 50, `closed after ${closed.afterMs} ms`);
      assert.match(slow.client.text(), /error: line not finished within 1 s\r\n$/);
    },
  );

  it("answers a client that types slowly but finishes each line in time", T, async (t) => {
    const { port } = server();
    const client = await HostileClient.connect(port);
    t.after(() => client.destroy());
    await client.waitFor(PROMPT);
    // Three lines, each of a few bytes a quarter of the idle timeout apart: within the
    // limit each, though the session lasts longer than it.
    for (const line of ["echo a\n", "echo b\n", "echo c\n"]) {
      for (const part of [line.slice(0, 3), line.slice(3)]) {
        await client.write(part);
        await turn((IDLE * 1000) / 4);
      }
      await client.waitFor(`${line.slice(5, 6)}\r\n${PROMPT}`);
    }
    assert.equal(client.isClosed, false);
    await client.ask("quit\n", "bye\r\n");
  });

  it(
    "closes a client that sends and never reads once it has been stuck for --idle-timeout",
    T,
    async (t) => {
      const { port } = server();
      const hog = await nonReader(port, { bytes: 64 * MiB });
      t.after(() => hog.client.destroy());
      await hog.stalled(500);
      const bound = IDLE * 1000 + closeSlackMs(IDLE);
      const closed = await Promise.race([hog.client.closed, turn(bound).then(() => null)]);
      assert.ok(closed !== null, `still open ${bound} ms after it stopped taking bytes`);
    },
  );
});

/** One pause of `ms` for a client that talks now and then (not a synchronisation). */
function turn(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
