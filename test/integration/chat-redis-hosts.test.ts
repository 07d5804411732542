/**
 * The chat's per-address limit (`--max-per-host`) over every server sharing a real
 * redis-server (started by each test on a free port, stopped by pid): one address's
 * connections on all of them together, slots freed when a connection closes or its server
 * is killed, and each server counting alone while Redis is out of reach. Skipped, saying
 * why, where there is no redis-server.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import { chatRoom, RawMember, WsMember } from "../helpers/chat.ts";
import { listening, portOf, socketkit } from "../helpers/proc.ts";
import { redisSkip, startRedis } from "../helpers/redis.ts";

const SKIP = redisSkip();
const T = { timeout: 60_000, skip: SKIP };
const REFUSED = "error: too many connections from your address (at most 3)\r\n";

if (SKIP !== undefined) console.log(`# chat's per-address limit on Redis skipped: ${SKIP}`);

/** A connection from 127.0.0.1 that the room let in: it is asked for a nickname. */
async function admitted(t: TestContext, port: number): Promise<RawMember> {
  const conn = await RawMember.connect(t, port);
  await conn.waitFor("Choose a nickname: ");
  return conn;
}

/** What a connection from 127.0.0.1 reads until it is closed, or asked for a nickname. */
async function refused(t: TestContext, port: number): Promise<string> {
  const conn = await RawMember.connect(t, port);
  await Promise.race([conn.closed, conn.waitFor("Choose a nickname: ")]);
  return conn.text;
}

/**
 * Connects to `port` until it is let in (a slot is freed by something not waited for:
 * a closed connection's count given back, a lease lapsing), `everyMs` apart.
 */
async function admittedOnceFree(t: TestContext, port: number, everyMs = 50): Promise<RawMember> {
  for (;;) {
    const conn = await RawMember.connect(t, port);
    await Promise.race([conn.waitFor("Choose a nickname: "), conn.closed]);
    if (conn.text.includes("Choose a nickname: ")) return conn;
    assert.equal(conn.text, REFUSED);
    await delay(everyMs);
  }
}

/** Waits until `check` holds, looking every 50 ms; fails after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`Waited ${ms} ms for ${what}`);
    await delay(50);
  }
}

describe("chat's per-address limit over servers sharing a Redis", () => {
  it(
    "counts one address's connections on every server together: the 4th of 3 is refused in one line, and a slot freed on one server is free on the other",
    T,
    async (t) => {
      const redis = await startRedis(t);
      const a = await chatRoom(t, { redis: redis.url, maxPerHost: 3, webPort: 0 });
      const b = await chatRoom(t, { redis: redis.url, maxPerHost: 3 });
      await RawMember.join(t, a.port, "alice"); // members count as unnamed connections do
      const a2 = await admitted(t, a.port);
      const b1 = await admitted(t, b.port);
      assert.equal(await refused(t, b.port), REFUSED, "the 4th, on the second server");
      assert.equal(await refused(t, a.port), REFUSED, "and on the first");
      const ws = await WsMember.connect(t, a.web);
      await ws.closed;
      assert.equal(ws.text, REFUSED.replace("\r\n", "\n"), "over the WebSocket too");
      const refusals = b.logs.filter((line) => line.includes("connections from one address"));
      assert.deepEqual(refusals.length, 1, b.logs.join("\n"));
      assert.match(
        refusals[0] ?? "",
        /^refused 127\.0\.0\.1:\d+ \(over 3 connections from one address\)$/,
      );
      // Another address still gets in, on either server.
      await RawMember.join(t, b.port, "carol", "127.0.0.2");

      // A connection closed on the first server frees a slot on the second...
      a2.socket.destroy();
      const b2 = await admittedOnceFree(t, b.port);
      assert.equal(await refused(t, a.port), REFUSED, "taken again: 3 in all");
      // ...and one closed on the second frees one on the first.
      b1.socket.destroy();
      b2.socket.destroy();
      await admittedOnceFree(t, a.port);
      await admitted(t, a.port);
      assert.equal(await refused(t, b.port), REFUSED);
    },
  );

  it("frees a killed server's connections within the lease (10 s)", T, async (t) => {
    const redis = await startRedis(t);
    const killed = socketkit([
      "chat",
      "serve",
      "--port",
      "0",
      "--redis",
      redis.url,
      "--max-per-host",
      "3",
    ]);
    t.after(() => killed.stop());
    const port = Number(portOf(await listening(killed)));
    const other = await chatRoom(t, { redis: redis.url, maxPerHost: 3 });
    for (let i = 0; i < 3; i++) await admitted(t, port);
    assert.equal(await refused(t, other.port), REFUSED);
    const at = performance.now();
    killed.child.kill("SIGKILL");
    await killed.exited;
    // Its connections are gone with it, but no one told Redis: they count until the lease lapses.
    assert.equal(await refused(t, other.port), REFUSED, "still counted just after the kill");
    await admittedOnceFree(t, other.port, 250);
    const seconds = (performance.now() - at) / 1000;
    assert.ok(
      seconds < 15,
      `freed ${seconds.toFixed(1)} s after the kill: within the lease and a renewal`,
    );
    await admitted(t, other.port);
    await admitted(t, other.port);
    assert.equal(await refused(t, other.port), REFUSED, "and counted as before");
  });

  it(
    "counts on each server alone while Redis is out of reach, saying so once, and over every server again when it is back",
    T,
    async (t) => {
      const redis = await startRedis(t);
      const options = { redis: redis.url, maxPerHost: 3, redisOptions: { catchUp: 1000 } };
      const a = await chatRoom(t, options);
      const b = await chatRoom(t, options);
      for (let i = 0; i < 2; i++) await admitted(t, a.port);
      const bob = await RawMember.join(t, b.port, "bob");
      assert.equal(await refused(t, b.port), REFUSED);

      await redis.stop();
      // Once the room is this server's only, a new member is shown it without Redis.
      await bob.waitFor("*** The other servers cannot be reached");
      // Each server on its own: b lets in 3 of its own.
      await admitted(t, b.port);
      await admitted(t, b.port);
      assert.equal(await refused(t, b.port), REFUSED);
      await admitted(t, a.port);
      assert.equal(await refused(t, a.port), REFUSED);
      const alone = (logs: string[]) =>
        logs.filter((line) =>
          /^Redis at redis:\/\/127\.0\.0\.1:\d+ cannot be reached: connections per address are counted on this server only until it can$/.test(
            line,
          ),
        ).length;
      assert.equal(alone(b.logs), 1, b.logs.join("\n"));
      assert.equal(alone(a.logs), 1, a.logs.join("\n"));

      // Redis back, empty: each server writes its counts anew (3 and 3: over the limit).
      await redis.restart();
      const back = (logs: string[]) => logs.some((line) => line.includes("reached again"));
      await until(() => back(a.logs) && back(b.logs), "both servers to count over Redis again");
      assert.equal(await refused(t, a.port), REFUSED);
      assert.equal(await refused(t, b.port), REFUSED);
      const check = new Redis(redis.url);
      t.after(() => check.disconnect());
      const keys = (await check.keys("socketkit:chat:{shared}:hosts*")).sort();
      assert.equal(keys.length, 3, `the servers' list and each one's counts: ${keys.join(", ")}`);
      for (const key of keys) {
        const ttl = await check.pttl(key);
        assert.ok(ttl > 0 && ttl <= 20_000, `${key} expires (in ${ttl} ms)`);
      }
      assert.deepEqual(
        (await Promise.all(keys.slice(1).map((key) => check.hget(key, "127.0.0.1")))).sort(),
        ["3", "3"],
      );
    },
  );
});
