/**
 * Chat rooms shared through Redis set up for high availability, with real servers started
 * by each test on free ports in a temporary folder and stopped by pid: a master and its
 * replica watched by a Sentinel (`redis-sentinel://`), failed over while members talk; and
 * a three-node Redis Cluster (`redis-cluster://`) whose nodes each hold some of the rooms,
 * also stopped whole while the servers go on alone.
 * Skipped, saying why, where there is no redis-server or redis-cli.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { chatRoom, RawMember } from "../helpers/chat.ts";
import { closedPort } from "../helpers/net.ts";
import { listening, portOf, socketkit, within } from "../helpers/proc.ts";
import { redisCli, redisHaSkip, startRedisCluster, startRedisSentinel } from "../helpers/redis.ts";

const SKIP = redisHaSkip();
const T = { timeout: 90_000, skip: SKIP };
const STAMP = /^\[\d\d:\d\d:\d\d\] /;

if (SKIP !== undefined) console.log(`# chat on Redis Sentinel and Cluster skipped: ${SKIP}`);

/** The messages (`<nick> text` lines) a member read, without the time stamps. */
function messages(member: RawMember): string[] {
  return member.text
    .split("\r\n")
    .filter((line) => STAMP.test(line))
    .map((line) => line.replace(STAMP, ""))
    .filter((line) => line.startsWith("<"));
}

/** Joins `nick` on `port` and moves it to `room`. */
async function inRoom(t: TestContext, port: number, nick: string, room: string) {
  const member = await RawMember.join(t, port, nick);
  member.send(`/join ${room}\n`);
  await member.waitFor(`*** You are in room ${room}.`);
  member.take();
  return member;
}

describe("chat on Redis through Sentinel", () => {
  it(
    "keeps every line, in one order for every member, through a failover (SENTINEL FAILOVER) in the middle",
    T,
    async (t) => {
      const set = await startRedisSentinel(t);
      const a = await chatRoom(t, { redis: set.url });
      const b = await chatRoom(t, { redis: set.url });
      const members = new Map<string, RawMember>();
      const names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
      for (const [i, name] of names.entries()) {
        members.set(name, await RawMember.join(t, i % 2 === 0 ? a.port : b.port, name));
      }
      for (const name of names.slice(0, -1)) {
        await members.get(name)?.waitFor("*** heidi joined");
      }
      for (const m of members.values()) m.take();
      const sent = new Map<string, string[]>([...members.keys()].map((name) => [name, []]));
      const round = (phase: string) => {
        for (const [name, m] of members) {
          const text = `${name} ${phase} ${(sent.get(name) as string[]).length}`;
          (sent.get(name) as string[]).push(`<${name}> ${text}`);
          m.send(`${text}\n`);
        }
      };
      // A round every 250 ms (under the room's limit of 5 lines a second for each member):
      // 32 lines a second, so that some are on their way while the master changes.
      for (let i = 0; i < 5; i++) {
        round("before");
        await delay(250);
      }
      await members.get("alice")?.waitFor("<heidi> heidi before 4");

      // The replica becomes the master; members go on talking until the Sentinel names it,
      // and after.
      assert.equal(set.masterPort(), set.master.port);
      redisCli(["-p", String(set.sentinel.port), "SENTINEL", "FAILOVER", "mymaster"]);
      let during = 0;
      while (set.masterPort() !== set.replica.port) {
        round("during");
        during++;
        assert.ok(during < 120, "the Sentinel names the new master within 30 s");
        await delay(250);
      }
      for (let i = 0; i < 10; i++) {
        round("after");
        await delay(250);
      }
      for (const [name, m] of members) {
        for (const other of members.keys()) {
          if (other === name) continue;
          const last = (sent.get(other) as string[]).at(-1) as string;
          await m.waitFor(last, 30_000);
        }
      }
      // Every member read every other member's lines once, each member's in the order sent,
      // and any two members the lines neither of them sent in the same order.
      const read = new Map([...members].map(([name, m]) => [name, messages(m)]));
      const from = (lines: string[], names: string[]) =>
        lines.filter((line) => !names.some((name) => line.startsWith(`<${name}> `)));
      for (const [name, lines] of read) {
        const others = from([...sent.values()].flat(), [name]).sort();
        assert.deepEqual([...lines].sort(), others, `${name} read every line of the others once`);
        for (const [sender, lines2] of sent) {
          if (sender === name) continue;
          assert.deepEqual(
            lines.filter((line) => line.startsWith(`<${sender}> `)),
            lines2,
            `${name} read ${sender}'s lines in the order sent`,
          );
        }
        for (const [other, lines2] of read) {
          if (other <= name) continue;
          assert.deepEqual(
            from(lines, [name, other]),
            from(lines2, [name, other]),
            `${name} and ${other} read one order`,
          );
        }
      }
      assert.ok(during > 0, "lines were sent during the failover");

      // The room's stream on the new master has every line: a server started now shows
      // them all as the room's history (the lines its old master confirmed but had not
      // copied to the replica yet were written again by their servers).
      const c = await chatRoom(t, { redis: set.url, history: 1000 });
      const zoe = await RawMember.connect(t, c.port);
      await zoe.waitFor("Choose a nickname: ");
      assert.deepEqual(
        messages(zoe).sort(),
        [...sent.values()].flat().sort(),
        "the room's history on the new master has every line once",
      );
      assert.equal(
        redisCli(["-p", String(set.replica.port), "ROLE"]).split("\n")[0],
        "master",
        "the replica is the master now",
      );
    },
  );
});

describe("chat on a Redis Cluster", () => {
  it(
    "spreads the rooms over the nodes, each with one order, nicknames unique and rosters right over both servers; a killed server's members leave every room",
    T,
    async (t) => {
      const cluster = await startRedisCluster(t);
      // One room on each node (a room's keys share its hash tag: `room:{NAME}:...`).
      const rooms: string[] = [];
      const used = new Set<number>();
      for (let i = 0; rooms.length < 3; i++) {
        const name = `room${i}`;
        const node = cluster.nodeOf(`socketkit:chat:room:{${name}}:log`);
        if (!used.has(node)) {
          used.add(node);
          rooms.push(name);
        }
      }
      const a = await chatRoom(t, { redis: cluster.url });
      const b = socketkit(["chat", "serve", "--port", "0", "--redis", cluster.url]);
      t.after(() => b.stop());
      const bPort = Number(portOf(await listening(b)));
      const here: RawMember[] = [];
      const there: RawMember[] = [];
      for (const [i, room] of rooms.entries()) {
        here.push(await inRoom(t, a.port, `a${i}`, room));
        there.push(await inRoom(t, bPort, `b${i}`, room));
        await here[i]?.waitFor(`*** b${i} joined`);
      }
      for (const room of rooms) {
        const node = cluster.nodeOf(`socketkit:chat:room:{${room}}:log`);
        assert.equal(
          redisCli(["-p", String(node), "EXISTS", `socketkit:chat:room:{${room}}:log`]).trim(),
          "1",
          `room ${room}'s stream is on the node ${node}`,
        );
      }
      assert.equal(used.size, 3, "the rooms are on three nodes");

      for (let n = 0; n < 5; n++) {
        for (const [i] of rooms.entries()) {
          here[i]?.send(`from a${i} ${n}\n`);
          there[i]?.send(`from b${i} ${n}\n`);
        }
      }
      for (const [i] of rooms.entries()) {
        await here[i]?.waitFor(`<b${i}> from b${i} 4`);
        await there[i]?.waitFor(`<a${i}> from a${i} 4`);
        for (const [member, who] of [
          [here[i], `b${i}`],
          [there[i], `a${i}`],
        ] as const) {
          assert.deepEqual(
            messages(member as RawMember),
            [0, 1, 2, 3, 4].map((n) => `<${who}> from ${who} ${n}`),
            "the other's lines, in order, and no other room's",
          );
        }
      }

      const a0 = here[0] as RawMember;
      a0.take();
      a0.send("/who\n");
      await a0.waitFor("*** Online (2): a0, b0");
      a0.send("/rooms\n");
      await a0.waitFor(`*** Rooms (3): ${rooms.map((r) => `${r} (2)`).join(", ")}\r\n`);
      a0.send("/msg B0 psst\n");
      await (there[0] as RawMember).waitFor("(private) <a0> psst");
      const taken = await RawMember.connect(t, bPort);
      await taken.waitFor("Choose a nickname: ");
      taken.send("A1\n");
      await taken.waitFor("error: the nickname A1 is taken; choose another: ");

      assert.deepEqual(
        a.logs.filter((line) => /cannot be reached|lost the connection/.test(line)),
        [],
        "the per-address counts and the bus work on the Cluster (its scripts' keys in one slot)",
      );

      // The server b killed: its members leave every room, each on its node, and their
      // nicknames are free.
      b.child.kill("SIGKILL");
      for (const [i] of rooms.entries()) {
        await here[i]?.waitFor(`*** b${i} left (server lost)`, 16_000);
      }
      const again = await RawMember.join(t, a.port, "B2");
      again.send(`/join ${rooms[2]}\n/who\n`);
      await again.waitFor("*** Online (2): B2, a2");
    },
  );
});

describe("chat on a Redis Cluster, every node out of reach", () => {
  it(
    "sends what each server's members said while alone to the other when the Cluster is back, marked late, and settles the rosters of rooms on different nodes",
    T,
    async (t) => {
      const cluster = await startRedisCluster(t);
      // Two rooms on different nodes: settling b's rosters touches both slots.
      const rooms: string[] = [];
      const used = new Set<number>();
      for (let i = 0; rooms.length < 2; i++) {
        const node = cluster.nodeOf(`socketkit:chat:room:{room${i}}:log`);
        if (!used.has(node)) {
          used.add(node);
          rooms.push(`room${i}`);
        }
      }
      const [r0, r1] = rooms as [string, string];
      const a = await chatRoom(t, { redis: cluster.url, redisOptions: { catchUp: 500 } });
      const b = await chatRoom(t, { redis: cluster.url, redisOptions: { catchUp: 500 } });
      const a0 = await inRoom(t, a.port, "a0", r0);
      const b0 = await inRoom(t, b.port, "b0", r0);
      const a1 = await inRoom(t, a.port, "a1", r1);
      const b1 = await inRoom(t, b.port, "b1", r1);
      await a0.waitFor("*** b0 joined");
      await a1.waitFor("*** b1 joined");
      for (const m of [a0, b0, a1, b1]) m.take();

      // Every node stopped (nothing saved): both servers go on alone.
      await Promise.all(cluster.nodes.map((n) => n.stop()));
      const lost = "*** The other servers cannot be reached";
      for (const m of [a0, b0, a1, b1]) await m.waitFor(lost);
      b1.send(`/join ${r0}\n`);
      await b0.waitFor("*** b1 joined");
      b0.send("apart b\n");
      await b1.waitFor("<b0> apart b");
      a0.send("apart a\n");

      for (const n of cluster.nodes) await n.restart();
      const back = "*** The other servers are back";
      for (const m of [a0, b0, a1, b1]) await m.waitFor(back, 30_000);
      await a0.waitFor("(late) <b0> apart b", 15_000);
      await a1.waitFor(`(late) *** b1 left (gone to ${r0})`);
      await b1.waitFor("(late) <a0> apart a", 15_000);
      await b0.waitFor("(late) <a0> apart a");
      assert.ok(
        a0.text.indexOf("(late) *** b1 joined") < a0.text.indexOf("(late) <b0> apart b"),
        a0.text,
      );
      // Written after what the servers sent back: once b1 has it, both read their own again.
      a0.send("after\n");
      await b1.waitFor("<a0> after");
      assert.equal(b1.text.split("apart b").length - 1, 1, "b1 read b0's line once");
      assert.equal(a0.text.split("apart b").length - 1, 1, "a0 read b0's line once");
      assert.equal(b1.text.split("apart a").length - 1, 1, "b1 read a0's line once");
      a0.take();
      a0.send("/who\n");
      await a0.waitFor("*** Online (3): a0, b0, b1");
      // b1 taken out of the other room's roster (its own slot): with one script over both
      // rooms, the Cluster would refuse the settling and nothing would be sent late.
      a1.take();
      a1.send("/who\n");
      await a1.waitFor("*** Online (1): a1");
    },
  );
});

describe("chat on Sentinel or Cluster that cannot be reached at start", () => {
  for (const [what, url, reason] of [
    [
      "Sentinels",
      (port: number) => `redis-sentinel://127.0.0.1:${port}/mymaster`,
      /All sentinels are unreachable\. Last error: /,
    ],
    [
      "Cluster",
      (port: number) => `redis-cluster://127.0.0.1:${port}`,
      /Failed to refresh slots cache/,
    ],
  ] as const) {
    it(`exits 1 with one line when the ${what} cannot be reached`, {
      timeout: 30_000,
    }, async () => {
      const port = await closedPort();
      const p = socketkit(["chat", "serve", "--port", "0", "--redis", url(port)]);
      assert.equal(await within(p, 20_000), 1);
      const lines = p.stderr().trim().split("\n");
      assert.equal(lines.length, 1, p.stderr());
      assert.match(
        lines[0] as string,
        /^socketkit: Cannot connect to Redis at redis-\w+:\/\/127\.0\.0\.1:\d+/,
      );
      assert.match(lines[0] as string, reason);
    });
  }

  it("refuses a URL it cannot read, in one line", { timeout: 30_000 }, async () => {
    const p = socketkit(["chat", "serve", "--port", "0", "--redis", "redis-sentinel://127.0.0.1"]);
    assert.notEqual(await within(p, 20_000), 0);
    assert.match(
      p.stderr(),
      /Cannot read the Redis URL "redis-sentinel:\/\/127\.0\.0\.1": expected redis-sentinel:\/\/HOST:PORT\[,HOST:PORT\.\.\.\]\/MASTER/,
    );
  });
});
