import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { type HostLimit, hostGroup } from "./host-limit.ts";
import { type HostLimitOptions, LocalHostLimit } from "./local-host-limit.ts";
import {
  createRedisClient,
  parseRedisUrl,
  type RedisClient,
  type RedisTarget,
  redactUrl,
} from "./redis-connection.ts";

/** Options of {@link RedisHostLimit}. */
export interface RedisHostLimitOptions extends HostLimitOptions {
  /** Prefix of its keys, as the chat bus's. @default "socketkit:chat:" */
  prefix?: string;
  /**
   * Milliseconds a server's counts outlive its last renewal: a server that dies frees its
   * connections' slots within this time. Renewed every third of it. At most 15000.
   * @default 10000
   */
  lease?: number;
  /**
   * Milliseconds a command may wait for Redis; past it, this server counts alone until it
   * has written its counts again. @default 2000
   */
  timeout?: number;
}

// Every script reads the time from Redis, so that the servers' clocks need not agree.
const LUA_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: servers, this server's counts. ARGV: max, server, the servers' counts' keys without
 * the server (all in the slot of the tag `{shared}`, as the two keys), then a group per
 * connection. For each in turn, counts one more connection of its group here when the live
 * servers' counts together are under `max`: 1, or 0 when they are not. -1 (for all) when
 * this server's counts are not in Redis (their lease lapsed), so that it writes them again.
 */
const TAKE = `${LUA_NOW}if redis.call('HEXISTS', KEYS[2], '#') == 0 then return -1 end
local max, prefix = tonumber(ARGV[1]), ARGV[3]
local others = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  if id ~= ARGV[2] then table.insert(others, prefix .. id) end
end
local elsewhere, out = {}, {}
for i = 4, #ARGV do
  local group = ARGV[i]
  local total = elsewhere[group]
  if total == nil then
    total = 0
    for _, key in ipairs(others) do total = total + tonumber(redis.call('HGET', key, group) or '0') end
    elsewhere[group] = total
  end
  if total + tonumber(redis.call('HGET', KEYS[2], group) or '0') < max then
    redis.call('HINCRBY', KEYS[2], group, 1)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

/** KEYS: this server's counts. ARGV: a group per connection ended. -1 when there are no counts. */
const GIVE = `if redis.call('HEXISTS', KEYS[1], '#') == 0 then return -1 end
for i = 1, #ARGV do
  if redis.call('HINCRBY', KEYS[1], ARGV[i], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
`;

/**
 * KEYS: servers, this server's counts. ARGV: server, lease. Renews this server's lease and
 * its counts', and takes the servers whose lease lapsed off the list (their counts expire
 * by themselves). 0 when its counts are not in Redis.
 */
const BEAT = `${LUA_NOW}local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
redis.call('PEXPIRE', KEYS[1], 2 * lease)
if redis.call('HEXISTS', KEYS[2], '#') == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], lease)
return 1
`;

/**
 * KEYS: servers, this server's counts. ARGV: server, lease, then groups and counts. Writes
 * this server's counts anew (`#` marks them whole) and renews its lease.
 */
const WRITE = `${LUA_NOW}local lease = tonumber(ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], '#', '1')
for i = 3, #ARGV - 1, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], lease)
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * lease)
return 1
`;

/** Groups written by one script call; the rest follow in the same transaction. */
const WRITE_BATCH = 1000;
/** Connections asked about in one script call. */
const TAKE_BATCH = 1000;

/** A connection waiting to be counted. */
interface Asked {
  group: string;
  host: string;
  address: string;
  answer: (group: string | null) => void;
}

type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * The per-address limit over every server sharing a Redis (what `chat serve --redis URL`
 * uses): the connections of one address (an IPv6 /64) on all of them together are at most
 * `max`.
 *
 * Each server keeps its counts in a hash of its own (group → connections) that lives for a
 * lease it renews, and its id in a sorted set of servers scored by when its lease ends. A
 * connection costs a script call as it is accepted (it adds up the live servers' counts for
 * its group and counts it here when they are under the limit) and one, not waited for, as
 * it ends; those of one turn of the event loop go in one call. A server that dies stops
 * renewing: its counts are ignored, and expire, within the lease. While Redis cannot be
 * reached (or does not answer within `timeout`) the server counts its own connections
 * only, as `LocalHostLimit` does, saying so once in its log; when Redis answers again it
 * writes its counts anew, whatever was lost meanwhile. Every key expires.
 *
 * Its keys share the hash tag `{shared}` (with the chat bus's nicknames and servers), so
 * that each script touches one slot of a Redis Cluster.
 *
 * Its commands go in order on a connection of its own that neither queues them while it
 * is down nor sends them twice, so a rewrite replaces whatever the commands before it did,
 * and those after it apply to what it wrote.
 *
 * @example
 * ```ts
 * import { RedisHostLimit } from "./redis-host-limit.ts";
 * const limit = new RedisHostLimit("redis://127.0.0.1:6379", { max: 20 });
 * await limit.start();
 * const group = await limit.take("127.0.0.1", "127.0.0.1:50000"); // "127.0.0.1", or null
 * if (group !== null) limit.give(group);
 * await limit.stop();
 * ```
 */
export class RedisHostLimit implements HostLimit {
  readonly max: number;
  /** This server's id among those sharing the Redis. */
  readonly server: string;
  readonly #url: string;
  readonly #target: RedisTarget;
  readonly #prefix: string;
  readonly #lease: number;
  readonly #timeout: number;
  readonly #log: (line: string) => void;
  /** This server's connections, as counted: what Redis holds of it, and the fallback. */
  readonly #here: LocalHostLimit;
  /** Takes sent to Redis and not answered yet, by group: a rewrite counts them. */
  readonly #asking = new Map<string, number>();
  #redis: RedisClient | null = null;
  /** Redis holds this server's counts and answers: takes are decided there. */
  #shared = false;
  /** What Redis holds of this server's counts may be wrong: it is written again. */
  #stale = true;
  /** Rewrites sent so far. */
  #rewrites = 0;
  #rewriting: Promise<void> | null = null;
  /** Counting alone has been logged (once until Redis answers again). */
  #alone = false;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  /** Connections to count, and groups to give back, at the end of this turn. */
  #takes: Asked[] = [];
  #gives: string[] = [];
  #flushing: NodeJS.Immediate | null = null;

  /** Throws, with a one-line message, when `url` is not a form `parseRedisUrl` reads. */
  constructor(url: string, options: RedisHostLimitOptions = {}) {
    this.#url = url;
    this.#target = parseRedisUrl(url);
    this.#prefix = options.prefix ?? "socketkit:chat:";
    this.#lease = Math.min(options.lease ?? 10_000, 15_000);
    this.#timeout = options.timeout ?? 2000;
    this.#log = options.log ?? (() => {});
    this.#here = new LocalHostLimit(options);
    this.max = this.#here.max;
    this.server = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  }

  /**
   * Connects and writes this server's (empty) counts. Never rejects: while Redis cannot be
   * reached, connections are counted on this server only, and the connection is retried.
   */
  async start(): Promise<void> {
    if (this.#stopped || this.#redis !== null) return;
    // A command fails at once while the connection is down, and is never sent twice:
    // the server counts alone meanwhile and writes its counts anew once it is back.
    const redis = createRedisClient(this.#target, {
      connectionName: "socketkit-chat-hosts",
      offlineQueue: false,
      resend: false,
      commandTimeout: this.#timeout,
    });
    this.#redis = redis;
    redis.on("error", () => {
      // Said once per outage by `#lost`; ioredis reconnects by itself.
    });
    redis.on("close", () => this.#lost());
    redis.on("ready", () => {
      this.#stale = true;
      void this.#rewrite();
    });
    redis.defineCommand("hostsTake", { numberOfKeys: 2, lua: TAKE });
    redis.defineCommand("hostsGive", { numberOfKeys: 1, lua: GIVE });
    redis.defineCommand("hostsBeat", { numberOfKeys: 2, lua: BEAT });
    redis.defineCommand("hostsWrite", { numberOfKeys: 2, lua: WRITE });
    this.#timer = setInterval(() => void this.#beat(), Math.max(100, Math.floor(this.#lease / 3)));
    this.#timer.unref();
    try {
      await redis.connect();
    } catch {
      this.#lost();
      return;
    }
    await this.#rewrite();
  }

  take(host: string, address: string): string | null | Promise<string | null> {
    if (this.#redis?.status !== "ready") this.#lost();
    if (!this.#shared) return this.#takeHere(host, address);
    return new Promise((answer) => {
      this.#takes.push({ group: hostGroup(host), host, address, answer });
      this.#soon();
    });
  }

  give(group: string): void {
    this.#here.give(group);
    if (this.#shared && this.#redis?.status === "ready") {
      this.#gives.push(group);
      this.#soon();
    } else this.#stale = true;
  }

  /** Stops counting: this server's counts leave Redis at once (nothing to wait out). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#flushing !== null) clearImmediate(this.#flushing);
    for (const asked of this.#takes.splice(0)) asked.answer(null);
    this.#here.stop();
    const redis = this.#redis;
    if (redis === null) return;
    if (redis.status === "ready") {
      const done = Promise.all([
        redis.zrem(this.#key("hosts"), this.server),
        redis.del(this.#mine()),
        redis.quit(),
      ]);
      const late = new Promise((resolve) => setTimeout(resolve, this.#timeout).unref());
      await Promise.race([done.catch(() => {}), late]);
    }
    redis.disconnect();
  }

  /** A key of the per-address counts: all share the chat bus's tag `{shared}`, one slot. */
  #key(name: string): string {
    return `${this.#prefix}{shared}:${name}`;
  }

  /** The hash of this server's counts. */
  #mine(): string {
    return this.#key(`hosts:${this.server}`);
  }

  #script(name: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const redis = this.#redis as unknown as Record<string, Script>;
    return (redis[name] as Script).call(this.#redis, ...keys, ...args);
  }

  /** Counted on this server alone; Redis is told when it is written anew. */
  #takeHere(host: string, address: string): string | null {
    const group = this.#here.take(host, address);
    if (group !== null) this.#stale = true;
    return group;
  }

  /** Sends what this turn asked for at its end, in as few calls as it can. */
  #soon(): void {
    this.#flushing ??= setImmediate(() => {
      this.#flushing = null;
      this.#flush();
    });
  }

  #flush(): void {
    const gives = this.#gives.splice(0);
    const takes = this.#takes.splice(0);
    if (!this.#shared || this.#redis?.status !== "ready") {
      if (this.#redis?.status !== "ready") this.#lost();
      if (gives.length > 0) this.#stale = true;
      for (const asked of takes) asked.answer(this.#takeHere(asked.host, asked.address));
      return;
    }
    // Slots freed first: they were freed before the others asked.
    for (let at = 0; at < gives.length; at += TAKE_BATCH) {
      this.#giveShared(gives.slice(at, at + TAKE_BATCH));
    }
    for (let at = 0; at < takes.length; at += TAKE_BATCH) {
      this.#takeShared(takes.slice(at, at + TAKE_BATCH));
    }
  }

  #takeShared(takes: Asked[]): void {
    for (const { group } of takes) this.#asking.set(group, (this.#asking.get(group) ?? 0) + 1);
    const rewrites = this.#rewrites;
    const answered = (group: string) => {
      const left = (this.#asking.get(group) ?? 1) - 1;
      if (left <= 0) this.#asking.delete(group);
      else this.#asking.set(group, left);
    };
    const groups = takes.map((asked) => asked.group);
    this.#script(
      "hostsTake",
      [this.#key("hosts"), this.#mine()],
      [this.max, this.server, this.#key("hosts:"), ...groups],
    ).then(
      (answers) => {
        for (const { group } of takes) answered(group);
        if (!Array.isArray(answers)) {
          // This server's counts had lapsed in Redis: decided here, and written anew.
          this.#stale = true;
          for (const asked of takes) asked.answer(this.#here.take(asked.host, asked.address));
          void this.#rewrite();
          return;
        }
        const back: string[] = [];
        for (const [i, { group, address, answer }] of takes.entries()) {
          if (answers[i] === 1) {
            this.#here.add(group);
            answer(group);
            continue;
          }
          // A rewrite sent after this take counted it as on its way: taken off again.
          if (this.#rewrites !== rewrites) back.push(group);
          this.#here.refused(group, address);
          answer(null);
        }
        if (back.length > 0) this.#giveShared(back);
      },
      () => {
        for (const { group } of takes) answered(group);
        this.#lost();
        for (const asked of takes) asked.answer(this.#takeHere(asked.host, asked.address));
      },
    );
  }

  #giveShared(groups: string[]): void {
    this.#script("hostsGive", [this.#mine()], groups).then(
      (answer) => {
        if (answer === 1) return;
        this.#stale = true;
        void this.#rewrite();
      },
      () => this.#lost(),
    );
  }

  /** Redis cannot be reached, or did not answer: this server counts alone until it does. */
  #lost(): void {
    this.#stale = true;
    if (this.#stopped) return;
    this.#shared = false;
    if (this.#alone) return;
    this.#alone = true;
    this.#log(
      `Redis at ${redactUrl(this.#url)} cannot be reached: connections per address are counted on this server only until it can`,
    );
  }

  /** Writes this server's counts anew while they may be wrong in Redis; then they are shared. */
  #rewrite(): Promise<void> {
    this.#rewriting ??= this.#rewriteWhileStale().finally(() => {
      this.#rewriting = null;
    });
    return this.#rewriting;
  }

  async #rewriteWhileStale(): Promise<void> {
    const redis = this.#redis as RedisClient;
    while (this.#stale && !this.#stopped && redis.status === "ready") {
      // From here on what changes is sent after the rewrite, in order on the connection.
      this.#stale = false;
      this.#rewrites++;
      // Gives not sent yet are in the counts written: not to be taken off twice.
      this.#gives.length = 0;
      const counts = new Map(this.#here.entries());
      for (const [group, n] of this.#asking) counts.set(group, (counts.get(group) ?? 0) + n);
      const flat = [...counts].flat();
      const batch = 2 * WRITE_BATCH;
      const multi = redis.multi() as unknown as Record<string, Script> & {
        hset: (key: string, ...pairs: (string | number)[]) => unknown;
        exec: () => Promise<[Error | null, unknown][] | null>;
      };
      (multi.hostsWrite as Script).call(
        multi,
        this.#key("hosts"),
        this.#mine(),
        this.server,
        this.#lease,
        ...flat.slice(0, batch),
      );
      for (let at = batch; at < flat.length; at += batch) {
        multi.hset(this.#mine(), ...flat.slice(at, at + batch));
      }
      try {
        const results = await multi.exec();
        if (results === null || results.some(([err]) => err !== null)) throw new Error("aborted");
      } catch {
        this.#lost();
        return;
      }
      if (!this.#shared && !this.#stopped) {
        this.#shared = true;
        if (this.#alone) {
          this.#alone = false;
          this.#log(
            `Redis at ${redactUrl(this.#url)} reached again: connections per address are counted over every server again`,
          );
        }
      }
    }
  }

  /** Renews this server's lease, or writes its counts anew when they may be wrong. */
  async #beat(): Promise<void> {
    if (this.#stopped || this.#redis?.status !== "ready") return;
    if (this.#stale || !this.#shared) {
      await this.#rewrite();
      return;
    }
    try {
      const kept = await this.#script(
        "hostsBeat",
        [this.#key("hosts"), this.#mine()],
        [this.server, this.#lease],
      );
      if (kept !== 1) {
        this.#stale = true;
        await this.#rewrite();
      }
    } catch {
      this.#lost();
    }
  }
}
