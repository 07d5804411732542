/**
 * RedisHostLimit against a real redis-server (started on a free port, stopped by pid);
 * skipped, saying why, where there is none. The chat servers over it are tested in
 * test/integration/chat-redis-hosts.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import { redisSkip, startRedis } from "../../../test/helpers/redis.ts";
import { RedisHostLimit, type RedisHostLimitOptions } from "./redis-host-limit.ts";

const SKIP = redisSkip();
const T = { timeout: 30_000, skip: SKIP };
const KEYS = "socketkit:chat:{shared}:hosts";

if (SKIP !== undefined) console.log(`# RedisHostLimit skipped: ${SKIP}`);

async function started(
  t: TestContext,
  url: string,
  options: RedisHostLimitOptions = {},
): Promise<RedisHostLimit> {
  const limit = new RedisHostLimit(url, { max: 3, ...options });
  t.after(() => limit.stop());
  await limit.start();
  return limit;
}

/** Waits until `check` resolves true, looking every 20 ms; fails after `ms`. */
async function until(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`Waited ${ms} ms for ${what}`);
    await delay(20);
  }
}

describe("RedisHostLimit", () => {
  it("counts the connections of one turn in one call, over every server", T, async (t) => {
    const redis = await startRedis(t);
    const check = new Redis(redis.url);
    t.after(() => check.disconnect());
    const a = await started(t, redis.url);
    const b = await started(t, redis.url);
    const calls = async () => {
      const stats = await check.info("commandstats");
      const of = (name: string) =>
        Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      return of("evalsha") + of("eval");
    };
    const before = await calls();
    const five = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => a.take("::ffff:127.0.0.1", `127.0.0.1:${i}`)),
    );
    assert.deepEqual(five, ["127.0.0.1", "127.0.0.1", "127.0.0.1", null, null]);
    assert.equal((await calls()) - before, 1, "five connections, one script call");
    assert.equal(await b.take("127.0.0.1", "127.0.0.1:6"), null, "the other server counts them");
    assert.equal(await b.take("127.0.0.2", "127.0.0.2:1"), "127.0.0.2", "another address is apart");
    a.give("127.0.0.1");
    await until(async () => (await b.take("127.0.0.1", "127.0.0.1:7")) !== null, "a slot freed");
    assert.equal(await a.take("127.0.0.1", "127.0.0.1:8"), null);
    await a.stop();
    assert.equal(await check.hget(`${KEYS}:${a.server}`, "127.0.0.1"), null, "gone at once");
    assert.deepEqual(await Promise.all([1, 2].map(() => b.take("127.0.0.1", "x"))), [
      "127.0.0.1",
      "127.0.0.1",
    ]);
    for (const key of await check.keys(`${KEYS}*`)) {
      const ttl = await check.pttl(key);
      assert.ok(ttl > 0 && ttl <= 20_000, `${key} expires (${ttl} ms)`);
    }
  });

  it("ignores a server whose lease has lapsed", T, async (t) => {
    const redis = await startRedis(t);
    const check = new Redis(redis.url);
    t.after(() => check.disconnect());
    const b = await started(t, redis.url);
    // A server that renewed its lease for the last time just now, holding 3.
    const [seconds, micros] = (await check.time()) as [number, number];
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await check.zadd(KEYS, now + 300, "dead");
    await check.hset(`${KEYS}:dead`, "#", "1", "127.0.0.1", "3");
    await check.pexpire(`${KEYS}:dead`, 300);
    assert.equal(await b.take("127.0.0.1", "127.0.0.1:1"), null);
    const at = performance.now();
    await until(async () => (await b.take("127.0.0.1", "127.0.0.1:2")) !== null, "the lease");
    assert.ok(performance.now() - at < 1000);
  });

  it("writes its counts again when Redis lost them, counting here meanwhile", T, async (t) => {
    const redis = await startRedis(t);
    const check = new Redis(redis.url);
    t.after(() => check.disconnect());
    const a = await started(t, redis.url);
    await a.take("127.0.0.1", "127.0.0.1:1");
    await a.take("127.0.0.1", "127.0.0.1:2");
    await check.del(`${KEYS}:${a.server}`);
    assert.equal(await a.take("127.0.0.1", "127.0.0.1:3"), "127.0.0.1", "counted here: 3 of 3");
    assert.equal(await a.take("127.0.0.1", "127.0.0.1:4"), null);
    await until(
      async () => (await check.hget(`${KEYS}:${a.server}`, "127.0.0.1")) === "3",
      "the counts written again",
    );
  });
});
