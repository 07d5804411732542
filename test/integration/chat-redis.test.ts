/**
 * Chat rooms shared by many servers through a real redis-server (started by each test on a
 * free port, in a temporary folder, stopped by pid): the room's rules over one server in
 * the process and over two on Redis; one order for every member; nicknames unique over the
 * servers; a server killed; a connection to Redis cut; Redis gone and back. Skipped, saying
 * why, where there is no redis-server.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import type { RedisChatBusOptions } from "../../src/apps/chat/redis-chat-bus.ts";
import type { ChatServeOptions } from "../../src/apps/chat/server.ts";
import "../../src/native/register.ts";
import { hasReactor } from "../../src/native/reactor.ts";
import { ReactorSocket } from "../../src/native/reactor-socket.ts";
import { chatRoom, RawMember, WsMember } from "../helpers/chat.ts";
import { closedPort } from "../helpers/net.ts";
import { listening, portOf, socketkit, within } from "../helpers/proc.ts";
import { redisSkip, startRedis } from "../helpers/redis.ts";
import { FaultProxy } from "../reliability/lib/fault-proxy.ts";

const SKIP = redisSkip();
const T = { timeout: 60_000, skip: SKIP };
const STAMP = "\\[\\d\\d:\\d\\d:\\d\\d\\]";

if (SKIP !== undefined) console.log(`# chat on Redis skipped: ${SKIP}`);

/** `count` chat servers in the process sharing one Redis. */
async function servers(t: TestContext, count: number, options: ChatServeOptions = {}) {
  const redis = await startRedis(t);
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    ports.push((await chatRoom(t, { ...options, redis: redis.url })).port);
  }
  return { redis, ports };
}

/**
 * Two chat servers on one Redis, b's link to it through a fault proxy (b's bus takes
 * `options`): a's link stays whole while the test cuts b's.
 */
async function linkedByProxy(t: TestContext, options?: RedisChatBusOptions) {
  const redis = await startRedis(t);
  const proxy = await FaultProxy.start(["127.0.0.1", redis.port]);
  t.after(() => proxy.close());
  const a = await chatRoom(t, { redis: redis.url });
  const b = await chatRoom(t, {
    redis: `redis://127.0.0.1:${proxy.port}`,
    ...(options === undefined ? {} : { redisOptions: options }),
  });
  return { redis, proxy, a, b };
}

/** Cuts the proxied link: nothing moves either way and the connections are reset. */
function cutLink(proxy: FaultProxy): void {
  proxy.set("upstream", { stall: true });
  proxy.set("downstream", { stall: true });
  proxy.resetAll();
}

/**
 * The room's rules as members see them, with members spread over the servers `ports`
 * (member i on server i mod n): the same test for one server without Redis and for two
 * on Redis. The servers keep a history of 2.
 */
async function roomRules(t: TestContext, ports: number[]): Promise<void> {
  const at = (i: number) => ports[i % ports.length] as number;
  const alice = await RawMember.join(t, at(0), "alice");
  const bob = await RawMember.join(t, at(1), "bob");
  await alice.waitFor("*** bob joined");
  alice.send("hello bob\r\n");
  await bob.waitFor(new RegExp(`${STAMP} <alice> hello bob\\r\\n$`));
  bob.send("/me waves\n/msg ALICE just you\n");
  await alice.waitFor(/\* bob waves\r\n.*\(private\) <bob> just you\r\n/s);
  await bob.waitFor("(private to alice) <bob> just you");

  // Joining on the first server while bob is on the other: history, roster, nicknames.
  const carol = await RawMember.connect(t, at(0));
  await carol.waitFor("*** Choose a nickname: ");
  assert.match(carol.text, /Online \(2\): alice, bob/);
  assert.match(
    carol.text,
    new RegExp(
      `The last 2 messages:\\r\\n${STAMP} <alice> hello bob\\r\\n${STAMP} \\* bob waves\\r\\n`,
    ),
  );
  carol.send("BOB\n");
  await carol.waitFor("error: the nickname BOB is taken; choose another: ");
  carol.send("carol\n/who\n");
  await carol.waitFor("*** Online (3): alice, bob, carol");
  carol.take();
  assert.equal(alice.text.includes("just you") && !carol.text.includes("just you"), true);

  // Rooms.
  bob.take();
  bob.send("/join games\n");
  await bob.waitFor("*** You are in room games.\r\n*** Online (1): bob\r\n");
  await alice.waitFor("*** bob left (gone to games)");
  carol.send("/join games\n");
  await bob.waitFor("*** carol joined");
  carol.send("gg\n");
  await bob.waitFor("<carol> gg");
  alice.take();
  alice.send("/rooms\n");
  await alice.waitFor("*** Rooms (2): games (2), lobby (1)\r\n");
  alice.send("/msg bob psst\n");
  await alice.waitFor("error: no one called bob is online");
  bob.send("/part\n");
  await bob.waitFor(/\*\*\* You are in room lobby\.\r\n\*\*\* Online \(2\): alice, bob\r\n/);
  await alice.waitFor("*** bob joined");
  assert.doesNotMatch(alice.text, /gg/, "another room's message reaches no one in the lobby");
  bob.send("/quit\n");
  await alice.waitFor("*** bob left (quit)");
}

/** The room's lines a member read, by who caused them, without `except`'s. */
function linesOf(member: RawMember, except: string[]): string[] {
  const author = new RegExp(`^${STAMP} (?:<(\\S+)>|\\* (\\S+)|\\*\\*\\* (\\S+))`);
  return member.text
    .split("\r\n")
    .filter((line) => {
      const m = author.exec(line);
      if (m === null) return false;
      return !except.includes((m[1] ?? m[2] ?? m[3]) as string);
    })
    .map((line) => line.slice(11));
}

/** Every pair of members read the lines neither of them caused in the same order. */
function assertOneOrder(members: Map<string, RawMember>): void {
  const names = [...members.keys()];
  for (const a of names) {
    for (const b of names) {
      if (a >= b) continue;
      const seenByA = linesOf(members.get(a) as RawMember, [a, b]);
      const seenByB = linesOf(members.get(b) as RawMember, [a, b]);
      assert.deepEqual(seenByA, seenByB, `${a} and ${b} read the room in the same order`);
    }
  }
}

describe("chat room rules, the same with and without Redis", () => {
  it("on one server, in the process", { timeout: 30_000 }, async (t) => {
    const { port } = await chatRoom(t, { history: 2 });
    await roomRules(t, [port]);
  });

  it("on two servers sharing a Redis", T, async (t) => {
    const { ports } = await servers(t, 2, { history: 2 });
    await roomRules(t, ports);
  });
});

describe("chat rooms on Redis", () => {
  it(
    "hands the lines one read from Redis brings to each member in one write, one call for all",
    T,
    async (t) => {
      const redis = await startRedis(t);
      const { port } = await chatRoom(t, { redis: redis.url });
      const members: RawMember[] = [];
      for (let i = 0; i < 6; i++) members.push(await RawMember.join(t, port, `m${i}`));
      for (const m of members.slice(0, 5)) await m.waitFor("*** m5 joined\r\n");
      for (const m of members) m.take();
      // The server is in this process: its fan-out on the native path is watched (and done).
      const calls: { sources: number; text: string }[] = [];
      const real = ReactorSocket.prototype.tryWriteEach;
      ReactorSocket.prototype.tryWriteEach = function (sources, data, callbacks, took) {
        calls.push({ sources: sources.length, text: data.toString() });
        real.call(this, sources, data, callbacks, took);
      };
      t.after(() => {
        ReactorSocket.prototype.tryWriteEach = real;
      });
      // Five lines of another server's in one transaction: one read from the stream has them all.
      const other = new Redis(redis.url);
      t.after(() => other.disconnect());
      const tx = other.multi();
      for (let k = 0; k < 5; k++) {
        const event = { kind: "say", room: "lobby", nick: "far", server: "elsewhere", member: 1 };
        tx.xadd(
          "socketkit:chat:room:{lobby}:log",
          "*",
          "e",
          JSON.stringify({ ...event, time: Date.now(), text: `line ${k}` }),
        );
      }
      // Rung once, as a server's publish script does: the servers read the room on it.
      tx.publish("socketkit:chat:room:{lobby}:bell", "");
      await tx.exec();
      for (const m of members) {
        await m.waitFor("<far> line 4\r\n");
        assert.match(m.take(), new RegExp(`^(${STAMP} <far> line \\d\r\n){5}$`));
      }
      if (hasReactor() && !process.env.SOCKETKIT_NO_NATIVE_IO) {
        const lines = calls.filter((c) => c.text.includes("<far> line"));
        assert.equal(lines.length, 1, "one fan-out for the five lines");
        assert.equal(lines[0]?.sources, 6, "to the six members at once");
        assert.equal(lines[0]?.text.match(/<far> line \d/g)?.length, 5, "the five lines together");
      }
    },
  );

  it("a browser member on one server and TCP members on another talk both ways", T, async (t) => {
    const redis = await startRedis(t);
    const a = await chatRoom(t, { redis: redis.url, webPort: 0 });
    const b = await chatRoom(t, { redis: redis.url });
    const tcp = await RawMember.join(t, b.port, "far");
    const browser = await WsMember.join(t, a.web, "webby");
    await tcp.waitFor("*** webby joined");
    browser.send("hello over redis");
    await tcp.waitFor("<webby> hello over redis");
    tcp.send("hello browser\n");
    await browser.waitFor("<far> hello browser");
    browser.send("/who");
    await browser.waitFor("*** Online (2): far, webby");
    tcp.send("/msg webby psst\n");
    await browser.waitFor("(private) <far> psst");
  });

  it(
    "gives every member on every server the messages, actions, joins and leaves in one order",
    T,
    async (t) => {
      const { ports } = await servers(t, 2);
      const names = ["alice", "bob", "carol", "dave"];
      const members = new Map<string, RawMember>();
      for (const [i, name] of names.entries()) {
        members.set(name, await RawMember.join(t, ports[i % 2] as number, name));
      }
      for (const name of ["alice", "bob", "carol"]) {
        await members.get(name)?.waitFor("*** dave joined");
      }
      for (const m of members.values()) m.take();
      // Everyone at once, interleaved: each server appends as its members send.
      for (let round = 0; round < 8; round++) {
        for (const [name, m] of members)
          m.send(round % 3 === 0 ? `/me ${name} ${round}\n` : `${name} says ${round}\n`);
      }
      const eve = await RawMember.join(t, ports[1] as number, "eve");
      eve.send("/quit\n");
      for (const [name, m] of members) {
        for (const other of names) {
          if (other !== name) await m.waitFor(other === "dave" ? "dave 6" : `${other} says 7`);
        }
        await m.waitFor("*** eve left (quit)");
      }
      assertOneOrder(members);
      const alice = linesOf(members.get("alice") as RawMember, ["alice"]);
      assert.equal(
        alice.length,
        3 * 8 + 2,
        "every line of the others, once: 24 and eve's join and leave",
      );
    },
  );

  it(
    "keeps nicknames unique over the servers, whatever their case, and frees them on quit",
    T,
    async (t) => {
      const { ports } = await servers(t, 2);
      const alice = await RawMember.join(t, ports[0] as number, "alice");
      const other = await RawMember.connect(t, ports[1] as number);
      await other.waitFor("Choose a nickname: ");
      other.send("ALICE\n");
      await other.waitFor("error: the nickname ALICE is taken; choose another: ");
      other.send("bob\n/nick Alice\n");
      await other.waitFor("error: the nickname Alice is taken; you are still bob");
      alice.send("/quit\n");
      await other.waitFor("*** alice left (quit)");
      other.send("/nick Alice\n");
      await other.waitFor("*** bob is now known as Alice");
    },
  );

  it(
    "shows a killed server's members as left (server lost) within the lease, and frees their nicknames",
    T,
    async (t) => {
      const redis = await startRedis(t);
      const start = async () => {
        const p = socketkit(["chat", "serve", "--port", "0", "--redis", redis.url]);
        t.after(() => p.stop());
        return { p, port: Number(portOf(await listening(p))) };
      };
      const a = await start();
      const b = await start();
      const c = await start();
      const alice = await RawMember.join(t, a.port, "alice");
      const bob = await RawMember.join(t, b.port, "bob");
      const carol = await RawMember.join(t, c.port, "carol");
      await alice.waitFor("*** carol joined");
      bob.send("before the end\n");
      await carol.waitFor("<bob> before the end");
      const killed = performance.now();
      b.p.child.kill("SIGKILL");
      await alice.waitFor("*** bob left (server lost)", 16_000);
      await carol.waitFor("*** bob left (server lost)", 1_000);
      assert.ok(performance.now() - killed < 15_000, "within 15 s: the lease (10 s) and a check");
      alice.send("still here\n");
      await carol.waitFor("<alice> still here");
      const again = await RawMember.join(t, c.port, "Bob");
      again.send("/who\n");
      await again.waitFor("*** Online (3): Bob, alice, carol");
    },
  );

  it(
    "catches up after its connection to Redis is cut: nothing sent meanwhile is missed, and the order is one",
    T,
    async (t) => {
      const { proxy, a, b } = await linkedByProxy(t);
      const members = new Map<string, RawMember>();
      for (const [name, port] of [
        ["alice", a.port],
        ["bob", b.port],
        ["carol", a.port],
        ["dave", b.port],
      ] as const) {
        members.set(name, await RawMember.join(t, port, name));
      }
      const alice = members.get("alice") as RawMember;
      for (const name of ["alice", "bob", "carol"]) {
        await members.get(name)?.waitFor("*** dave joined");
      }
      for (const m of members.values()) m.take();
      // The server b's link to Redis stops moving, then is cut; it is back 2 s later.
      proxy.set("upstream", { stall: true });
      proxy.set("downstream", { stall: true });
      for (let i = 0; i < 5; i++) {
        for (const [name, m] of members) m.send(`${name} ${i}\n`);
      }
      await members.get("carol")?.waitFor("alice 4");
      proxy.resetAll();
      await delay(2000);
      assert.doesNotMatch(alice.text, /bob 0/, "nothing came from b during the outage");
      proxy.clear();
      for (const [name, m] of members) {
        for (const other of members.keys())
          if (other !== name) await m.waitFor(`<${other}> ${other} 4`);
      }
      assertOneOrder(members);
      for (const [name, m] of members) {
        assert.equal(
          linesOf(m, [name]).length,
          15,
          `${name} read each of the others' 5 lines once`,
        );
      }
      assert.doesNotMatch(alice.text, /left/, "no one was taken for lost");
    },
  );

  it(
    "tells its members once when Redis is lost for long, keeps the room here, and rejoins when it is back",
    T,
    async (t) => {
      const { redis, ports } = await servers(t, 2, { redisOptions: { catchUp: 1000 } });
      const alice = await RawMember.join(t, ports[0] as number, "alice");
      const carol = await RawMember.join(t, ports[0] as number, "carol");
      const bob = await RawMember.join(t, ports[1] as number, "bob");
      await alice.waitFor("*** bob joined");
      alice.take();
      carol.take();
      await redis.stop();
      const lost = "*** The other servers cannot be reached";
      await alice.waitFor(lost);
      await bob.waitFor(lost);
      alice.send("just us\n");
      await carol.waitFor("<alice> just us");
      await redis.restart();
      await alice.waitFor("*** The other servers are back", 15_000);
      await bob.waitFor("*** The other servers are back", 15_000);
      assert.equal(alice.text.split(lost).length - 1, 1, "told once");
      const dave = await RawMember.join(t, ports[1] as number, "dave");
      // The rosters settle as the servers come back: dave's join, written behind what
      // waited, reaches the other server, and then everyone is in one room again.
      await alice.waitFor("*** dave joined");
      dave.send("/who\n");
      await dave.waitFor("*** Online (4): alice, bob, carol, dave");
      dave.send("hi all\n");
      await alice.waitFor("<dave> hi all");
      await carol.waitFor("<dave> hi all");
    },
  );

  it(
    "sends what a server's members said while it was alone to the others when it is back: once, in order, marked late, and not again to its own",
    T,
    async (t) => {
      // Eight events may wait while b is alone: a line past them is refused.
      const { proxy, a, b } = await linkedByProxy(t, { catchUp: 500, maxPending: 8 });
      const alice = await RawMember.join(t, a.port, "alice");
      const bob = await RawMember.join(t, b.port, "bob");
      const carol = await RawMember.join(t, b.port, "carol");
      const erin = await RawMember.join(t, b.port, "erin");
      await alice.waitFor("*** erin joined");
      await carol.waitFor("*** erin joined");
      for (const m of [alice, bob, carol]) m.take();

      // b's link to Redis is cut, and stays cut past b's catch-up window.
      cutLink(proxy);
      const lost = "*** The other servers cannot be reached";
      await bob.waitFor(lost);
      await carol.waitFor(lost);
      bob.send("apart 0\n/me apart 1\n/msg alice not here\napart 2\n");
      await carol.waitFor("<bob> apart 2");
      await bob.waitFor(
        "error: alice is not on this server, and the other servers cannot be reached: not sent",
      );
      const dave = await RawMember.join(t, b.port, "dave");
      dave.send("apart 3\n/quit\n");
      await carol.waitFor("*** dave left (quit)");
      erin.send("/join games\n");
      await erin.waitFor("*** You are in room games.");
      await carol.waitFor("*** erin left (gone to games)");
      bob.send("one too many\n");
      await bob.waitFor("error: too many lines wait for the other servers to be back: not sent");
      alice.send("meanwhile\n");

      proxy.clear();
      const back = "*** The other servers are back";
      await bob.waitFor(back, 15_000);
      await carol.waitFor(back, 15_000);
      await alice.waitFor("(late) *** erin left (gone to games)");
      // Written after what b sent back: once carol has it, b has read its own lines again.
      alice.send("after\n");
      await carol.waitFor("<alice> after");

      const said = (m: RawMember) =>
        m.text.split("\r\n").filter((line) => /apart|too many|after|dave|erin/.test(line));
      const stamp = new RegExp(`^${STAMP} `);
      const late = [
        "(late) <bob> apart 0",
        "(late) * bob apart 1",
        "(late) <bob> apart 2",
        "(late) *** dave joined",
        "(late) <dave> apart 3",
        "(late) *** dave left (quit)",
        "(late) *** erin left (gone to games)",
      ];
      assert.deepEqual(
        said(alice).map((line) => line.replace(stamp, "")),
        late,
        "the other server's member reads what was said apart once, in order, marked",
      );
      assert.deepEqual(
        said(carol).map((line) => line.replace(stamp, "")),
        [...late.map((line) => line.slice("(late) ".length)), "<alice> after"],
        "the alone server's member read it as it was said, and not a second time",
      );
      assert.doesNotMatch(alice.text, /not here|left \(server lost\)/);
      assert.doesNotMatch(carol.text, /one too many/);
      // The rosters are right again: dave left and erin moved while b was alone.
      alice.send("/who\n/rooms\n");
      await alice.waitFor(
        "*** Online (3): alice, bob, carol\r\n*** Rooms (2): games (1), lobby (3)",
      );
    },
  );

  it(
    "tells what was said while alone under the nickname its member has now, when someone else took the old one meanwhile",
    T,
    async (t) => {
      // b's nicknames lapse 1 s after its link is cut, and a takes it for lost soon after.
      const { proxy, a, b } = await linkedByProxy(t, { catchUp: 500, lease: 1000 });
      const alice = await RawMember.join(t, a.port, "alice");
      const bob = await RawMember.join(t, b.port, "bob");
      const carol = await RawMember.join(t, b.port, "carol");
      await alice.waitFor("*** carol joined");
      for (const m of [alice, bob, carol]) m.take();

      cutLink(proxy);
      await bob.waitFor("*** The other servers cannot be reached");
      bob.send("apart 0\n");
      await carol.waitFor("<bob> apart 0");
      await alice.waitFor("*** bob left (server lost)", 20_000);
      await alice.waitFor("*** carol left (server lost)");
      const other = await RawMember.join(t, a.port, "bob");

      proxy.clear();
      // Said as soon as b is back, while its claims are being settled: it goes out after
      // what was said alone, under the nickname retaken.
      await bob.waitFor("*** The other servers are back", 15_000);
      bob.send("back 1\n");
      const retaken =
        /\*\*\* Someone took bob while this server was away: you are (bob_[0-9a-f]{4})\./;
      await bob.waitFor(retaken);
      const nick = retaken.exec(bob.text)?.[1] as string;
      await alice.waitFor(`<${nick}> back 1`);
      await other.waitFor(`<${nick}> back 1`);
      const late = `(late) <${nick}> apart 0`;
      assert.ok(alice.text.includes(late), alice.text);
      assert.ok(alice.text.indexOf(late) < alice.text.indexOf(`<${nick}> back 1`), "in order");
      assert.ok(other.text.includes(late), other.text);
      alice.send("after\n");
      await carol.waitFor("<alice> after");
      assert.equal(carol.text.split("back 1").length - 1, 1, "carol read it once");
      assert.doesNotMatch(alice.text, /<bob> apart 0/);
      assert.match(alice.text, new RegExp(`\\*\\*\\* ${nick} joined`), "back in the room");
      assert.equal(carol.text.split("apart 0").length - 1, 1, "carol read it once");
      alice.send("/who\n");
      await alice.waitFor(`*** Online (4): alice, bob, ${nick}, carol`);
    },
  );

  it("exits 1 with one line when Redis cannot be reached at start", {
    timeout: 30_000,
  }, async () => {
    const port = await closedPort();
    const p = socketkit(["chat", "serve", "--port", "0", "--redis", `redis://127.0.0.1:${port}`]);
    assert.equal(await within(p, 20_000), 1);
    const lines = p.stderr().trim().split("\n");
    assert.equal(lines.length, 1, p.stderr());
    assert.match(
      lines[0] as string,
      /^socketkit: Cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
  });
});
