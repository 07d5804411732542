import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { SocketError } from "../../core/errors.ts";
import type {
  ChatBus,
  ChatBusHandlers,
  ChatEvent,
  ChatEventKind,
  RoomCount,
  Roster,
} from "./chat-bus.ts";
import { nickKey } from "./nick-key.ts";
import {
  createRedisClient,
  parseRedisUrl,
  type RedisClient,
  type RedisTarget,
  redactUrl,
} from "./redis-connection.ts";

export { redactUrl } from "./redis-connection.ts";

/** Options of {@link RedisChatBus}. */
export interface RedisChatBusOptions {
  /** Prefix of every key the chat uses, so that several chats can share a Redis. @default "socketkit:chat:" */
  prefix?: string;
  /**
   * Milliseconds a server's claims (its nicknames, its members in the rosters) outlive its
   * last renewal: a server that dies is seen as lost, its members shown as left and their
   * nicknames freed, within this time. Renewed every third of it. At most 15000.
   * @default 10000
   */
  lease?: number;
  /**
   * Milliseconds the connection to Redis may be down before the members are told that
   * only this server's members hear them; up to then, what is sent waits and goes out in
   * order when Redis is back. @default 30000
   */
  catchUp?: number;
  /** Entries each room's stream keeps, about (XADD MAXLEN ~). @default 10000 */
  maxLength?: number;
  /** Milliseconds a room with no activity keeps its stream and roster. @default 86400000 */
  retention?: number;
  /**
   * Events that may wait for Redis: written while it is down, and said while this server
   * was alone (sent to the others when it is back); more lines are refused. @default 10000
   */
  maxPending?: number;
  /**
   * Joins, leaves and renames are announced while a room has at most this many members,
   * as the room's `quietAbove`: the bus announces the members of a lost server.
   * @default 200
   */
  quietAbove?: number;
  /** Where the bus's events go (connection lost and back, servers lost). @default nothing */
  log?: (line: string) => void;
}

/**
 * An event that waits for Redis to be back: said while this server was alone (`late`:
 * shown here already), or published while it was coming back (`done` settles it once
 * it is written).
 */
interface Waiting {
  event: ChatEvent;
  quietBelow: number;
  late: boolean;
  done?: { resolve: (value: boolean) => void; reject: (err: unknown) => void };
}

/** An event Redis confirmed: its script call, to make again after a failover. */
interface Sent {
  seq: number;
  event: ChatEvent;
  keys: string[];
  args: (string | number)[];
  /** When it was confirmed (performance.now()). */
  at: number;
}

/** A member of this server as the bus knows it, to renew and to bring back. */
interface LocalClaim {
  nick: string;
  /** Its room, once it has joined one. */
  room: string | null;
  member: number;
}

/**
 * How often every open room's stream is read even without a bell (ms): the longest a room
 * waits for an event whose bell was lost (the bells' connection dropped, a Cluster node
 * failed over).
 */
const SWEEP_MS = 2000;
/**
 * Milliseconds during which an event Redis confirmed is kept, to be written again after a
 * reconnection: a replica promoted by Sentinel may lack what the old master confirmed
 * last (replication is asynchronous), and the clients learn of the failover within this.
 */
const RESEND_MS = 15_000;
/** Sequence numbers of each server's events remembered as delivered, per room. */
const DELIVERED_KEPT = 20_000;
/** Entries read at once from the streams. */
const READ_COUNT = 1000;
/** Nickname keys renewed in one script call. */
const RENEW_BATCH = 1000;
/** Publish's quietBelow when there is none. */
const NEVER_QUIET = 1_000_000_000;

const KINDS = new Set<ChatEventKind>(["say", "me", "private", "join", "leave", "rename"]);

// Every script reads the time from Redis, so that the servers' clocks need not agree.
const LUA_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Sequence numbers of its last events each server's record in a room keeps. */
const SENT_KEPT = 20_000;

/**
 * KEYS: the room's stream, roster and this server's last sequence numbers there (one slot:
 * the room's hash tag). ARGV: kind, event (JSON), the nickname's key (`nickKey`),
 * nickname, server, quietBelow, maxLength, retention, the event's sequence number, the
 * room's bell channel, then for a rename the new nickname as its key (`nickKey`) and as
 * is, for a private message the recipient's key, for an event said while the server was
 * alone (kind `late`) 1 when it is a notice. Returns whether the event was written
 * (1), not (0: no such recipient, or a notice in a room too large), or had been already
 * (-1: the command was sent again, after a reconnection or a failover; its number is among
 * the last ${SENT_KEPT} of its server in this room, in whatever order they came), and the
 * roster's size after a join, leave or rename (else -1). A late event is told, not acted
 * on: the rosters are put right by SETTLE.
 */
const PUBLISH = `local kind = ARGV[1]
local log, roster, sent = KEYS[1], KEYS[2], KEYS[3]
local low, nick, server = ARGV[3], ARGV[4], ARGV[5]
local quiet, maxlen, keep = tonumber(ARGV[6]), ARGV[7], ARGV[8]
local seq = tonumber(ARGV[9])
local notice = kind == 'join' or kind == 'leave' or kind == 'rename'
if redis.call('ZADD', sent, seq, seq) == 0 then
  if notice then return {-1, redis.call('HLEN', roster)} end
  return {-1, -1}
end
if redis.call('ZCARD', sent) > ${SENT_KEPT} then
  redis.call('ZREMRANGEBYRANK', sent, 0, -${SENT_KEPT + 1})
end
redis.call('PEXPIRE', sent, keep)
if kind == 'late' then
  if ARGV[11] == '1' and redis.call('HLEN', roster) >= quiet then return {0, -1} end
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[2])
  redis.call('PEXPIRE', log, keep)
  redis.call('PUBLISH', ARGV[10], '')
  return {1, -1}
end
local n = -1
if kind == 'join' then
  redis.call('HSET', roster, low, nick .. '\\n' .. server)
elseif kind == 'leave' then
  redis.call('HDEL', roster, low)
elseif kind == 'rename' then
  redis.call('HDEL', roster, low)
  redis.call('HSET', roster, ARGV[11], ARGV[12] .. '\\n' .. server)
elseif kind == 'private' then
  local to = redis.call('HGET', roster, ARGV[11])
  if not to then return {0, -1} end
  to = string.sub(to, 1, string.find(to, '\\n', 1, true) - 1)
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[2], 'to', to)
  redis.call('PEXPIRE', log, keep)
  redis.call('PUBLISH', ARGV[10], '')
  return {1, -1}
end
if notice then
  redis.call('PEXPIRE', roster, keep)
  n = redis.call('HLEN', roster)
  if n >= quiet then return {0, n} end
end
redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[2])
redis.call('PEXPIRE', log, keep)
redis.call('PUBLISH', ARGV[10], '')
return {1, n}
`;

/** KEYS: the nickname's key. ARGV: server, lease. 1 when the nickname is this server's. */
const CLAIM = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
`;

/** KEYS: the nickname's key, this server's members. ARGV: server, nickname key (`nickKey`). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
`;

/**
 * KEYS: servers, this server's members, then nickname keys. ARGV: server, lease, retention
 * (the list of servers and each one's members outlive them that long, so that a server
 * started after every other one died still reaps them). Returns
 * whether the server had been taken for lost (it was not among the servers), and the
 * positions (from 1) of the nicknames now held by another server.
 */
const RENEW = `${LUA_NOW}local lease = tonumber(ARGV[2])
local fresh = redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local lost = {}
for i = 3, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v == ARGV[1] then redis.call('PEXPIRE', KEYS[i], lease)
  elseif not v then redis.call('SET', KEYS[i], ARGV[1], 'PX', lease)
  else table.insert(lost, i - 2) end
end
return {fresh, lost}
`;

/**
 * KEYS: servers, servers being reaped. ARGV: lease. Takes one server whose lease has lapsed
 * off the list (or one whose reaping was left unfinished, its reaper gone) and marks it
 * as being reaped for a lease. Returns its id, or false.
 */
const REAP_TAKE = `${LUA_NOW}local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #dead == 0 then dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1) end
if #dead == 0 then return false end
redis.call('ZREM', KEYS[1], dead[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), dead[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1] * 10)
return dead[1]
`;

/**
 * KEYS: one room's stream, roster and the lost server's last sequence numbers. ARGV: the lost
 * server, quietAbove, maxLength, retention, the room's bell channel, the room, then the
 * nickname key and nickname of each of its members in the room. Removes those still in the roster as that
 * server's, announcing each as left (server lost) while the room is small enough. Its
 * sequence numbers are kept 15 s more (RESEND_MS): a server taken for lost that is not
 * (cut off, or alone, for longer than its lease) writes its recent events again when
 * it is back, and they must still be recognised. Returns the roster's size.
 */
const REAP_ROOM = `${LUA_NOW}local log, roster, id = KEYS[1], KEYS[2], ARGV[1]
local quiet, maxlen, keep, room = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[6]
for i = 7, #ARGV - 1, 2 do
  local low, nick = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', roster, low) == nick .. '\\n' .. id then
    redis.call('HDEL', roster, low)
    if redis.call('HLEN', roster) < quiet then
      local e = cjson.encode({kind = 'leave', room = room, nick = nick,
        server = id, member = -1, time = now, text = 'server lost'})
      redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'e', e)
      redis.call('PEXPIRE', log, keep)
      redis.call('PUBLISH', ARGV[5], '')
    end
  end
end
redis.call('PEXPIRE', KEYS[3], ${RESEND_MS})
return redis.call('HLEN', roster)
`;

/**
 * KEYS: servers, servers being reaped, the lost server's members, then nickname keys.
 * ARGV: the lost server, whether this is the last call for it. Frees the nicknames it
 * still holds and, at the last call, forgets it; nothing when it came back meanwhile.
 */
const REAP_DONE = `local id = ARGV[1]
if redis.call('ZSCORE', KEYS[1], id) then
  redis.call('ZREM', KEYS[2], id)
  return 0
end
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) == id then redis.call('DEL', KEYS[i]) end
end
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[2], id)
end
return 1
`;

/**
 * KEYS: one room's roster. ARGV: server, retention, then for each of this server's members
 * `-` (no longer in this room) or `+` (in it now), its nickname key and nickname. Puts
 * this server's members in the room's roster as they are now, after it was alone: an
 * entry is taken out only when it is this server's, and one held by another server is
 * left to it. Returns the roster's size. (One room a call: each room is a slot of its
 * own on a Cluster; this server's record of its members is written apart.)
 */
const SETTLE = `local roster, server, keep = KEYS[1], ARGV[1], ARGV[2]
local tail = '\\n' .. server
local function ours(v) return v and string.sub(v, -#tail) == tail end
for i = 3, #ARGV - 2, 3 do
  local op, low, nick = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local v = redis.call('HGET', roster, low)
  if op == '-' then
    if ours(v) then redis.call('HDEL', roster, low) end
  elseif not v or ours(v) then
    redis.call('HSET', roster, low, nick .. tail)
  end
end
redis.call('PEXPIRE', roster, keep)
return redis.call('HLEN', roster)
`;

/** KEYS: roster. ARGV: limit. The count, and at most about `limit` nicknames. */
const ROSTER = `local n = redis.call('HLEN', KEYS[1])
local values
if n <= tonumber(ARGV[1]) then values = redis.call('HVALS', KEYS[1])
else
  values = {}
  local pairs = redis.call('HSCAN', KEYS[1], 0, 'COUNT', ARGV[1])[2]
  for i = 2, #pairs, 2 do table.insert(values, pairs[i]) end
end
return {n, values}
`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * The chat's shared state in Redis (7, or Valkey), for rooms whose members are spread over
 * many `chat serve` processes: what `--redis URL` uses.
 *
 * Each room is a Redis stream, trimmed to about `maxLength` entries: its one order of
 * events. Every server appends what its members do (XADD, and a bell on the room's
 * channel) and reads the streams of the rooms its members are in from the last entry it
 * has delivered (XREAD, when the bell rings and every 2 s), so every member of every
 * server sees the same events in the same order, and a server whose connection drops for
 * a while carries on from where it was. One cut off for longer than `catchUp` goes on
 * alone, and what its members said meanwhile is written, marked late, when Redis is
 * back. A room's roster is a hash;
 * a nickname is a key holding its server's id with a lease (SET NX PX) that the server
 * renews; each server also renews its entry in a sorted set of servers. A server that
 * stops renewing (killed) is taken off by another one once its lease lapses: its members
 * are removed from the rosters and shown as `left (server lost)`, and their nicknames
 * freed. Every key expires or is trimmed.
 *
 * `url` is one Redis (`redis://`, `rediss://`), a master found through Sentinels
 * (`redis-sentinel://HOST:PORT,HOST:PORT/MASTER`) or a Redis Cluster
 * (`redis-cluster://HOST:PORT,HOST:PORT`): see {@link parseRedisUrl}. A room's keys share
 * its hash tag (`room:{lobby}:log`), so that each script touches one slot and the rooms
 * spread over a Cluster's nodes; the keys shared by every room (the servers, nicknames,
 * room counts) share the tag `{shared}`.
 *
 * @example
 * ```ts
 * import { ChatRoom, RedisChatBus } from "./index.ts";
 * const bus = new RedisChatBus("redis://127.0.0.1:6379");
 * const room = new ChatRoom({ bus, name: "lobby" });
 * await room.ready;
 * ```
 */
export class RedisChatBus implements ChatBus {
  readonly server: string;
  readonly shared = true;
  readonly #url: string;
  readonly #target: RedisTarget;
  readonly #prefix: string;
  readonly #lease: number;
  readonly #catchUp: number;
  readonly #maxLength: number;
  readonly #retention: number;
  readonly #maxPending: number;
  readonly #quietAbove: number;
  readonly #log: (line: string) => void;
  #cmd: RedisClient | null = null;
  #reader: RedisClient | null = null;
  /** Subscribed to the bell of each open room: rung as an event is written. */
  #bells: RedisClient | null = null;
  /** Rooms whose stream is being read: true when it is to be read again after. */
  readonly #pulling = new Map<string, boolean>();
  #handlers: ChatBusHandlers | null = null;
  /** The last entry delivered of each open room's stream. */
  readonly #cursors = new Map<string, string>();
  /** This server's members with a nickname, by nickname key (`nickKey`: case, look-alikes and invisible characters folded). */
  readonly #claims = new Map<string, LocalClaim>();
  /** Events written and not yet confirmed by Redis, by sequence number. */
  readonly #unconfirmed = new Map<number, ChatEvent>();
  /** Events waiting for Redis to be back, in the order they were published. */
  #waiting: Waiting[] = [];
  /** Back from being alone: what waits goes out once the claims are settled. */
  #rejoining = false;
  /** A renewal is settling this server's return. */
  #settling = false;
  /** Members renamed because another server took their nickname, while events wait. */
  readonly #retaken = new Map<number, { old: string; nick: string }>();
  /** An event said while alone was not kept for the others (too many wait), logged once. */
  #dropLogged = false;
  /**
   * Events Redis confirmed in the last {@link RESEND_MS}, oldest first: written again
   * after a reconnection, in case the master that confirmed them lost them in a failover.
   */
  #recent: Sent[] = [];
  /** The rooms this server wrote to: its record of sequence numbers in each goes as it stops. */
  readonly #roomsWritten = new Set<string>();
  /** The connection dropped since the recent events were last written again. */
  #resendDue = false;
  /** Sequence numbers delivered lately, by room and server: none is delivered twice. */
  readonly #delivered = new Map<string, Set<number>>();
  #seq = 0;
  /** This server's events up to this number were shown here already (while Redis was lost). */
  #shownUpTo = 0;
  /** Since when the connection has been down (performance.now()), or null. */
  #downSince: number | null = null;
  /** Redis has been down longer than `catchUp`: the rooms are this server's only. */
  #lost = false;
  #stopped = false;
  #timers: NodeJS.Timeout[] = [];
  #lostTimer: NodeJS.Timeout | null = null;

  /** Throws, with a one-line message, when `url` is not one of the forms {@link parseRedisUrl} reads. */
  constructor(url: string, options: RedisChatBusOptions = {}) {
    this.#url = url;
    this.#target = parseRedisUrl(url);
    this.#prefix = options.prefix ?? "socketkit:chat:";
    this.#lease = Math.min(options.lease ?? 10_000, 15_000);
    this.#catchUp = options.catchUp ?? 30_000;
    this.#maxLength = options.maxLength ?? 10_000;
    this.#retention = options.retention ?? 86_400_000;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#quietAbove = options.quietAbove ?? 200;
    this.#log = options.log ?? (() => {});
    this.server = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  }

  /** Connects (rejecting with a one-line message when Redis cannot be reached) and begins. */
  async start(handlers: ChatBusHandlers): Promise<void> {
    this.#handlers = handlers;
    const cmd = await this.#connect("commands");
    this.#cmd = cmd;
    cmd.defineCommand("chatPublish", { numberOfKeys: 3, lua: PUBLISH });
    cmd.defineCommand("chatClaim", { numberOfKeys: 1, lua: CLAIM });
    cmd.defineCommand("chatRelease", { numberOfKeys: 2, lua: RELEASE });
    cmd.defineCommand("chatReapTake", { numberOfKeys: 2, lua: REAP_TAKE });
    cmd.defineCommand("chatReapRoom", { numberOfKeys: 3, lua: REAP_ROOM });
    cmd.defineCommand("chatRoster", { numberOfKeys: 1, lua: ROSTER });
    cmd.defineCommand("chatSettle", { numberOfKeys: 1, lua: SETTLE });
    this.#reader = await this.#connect("reader");
    const bells = await this.#connect("bells");
    this.#bells = bells;
    bells.on("message", (channel: string) => this.#pull(this.#roomOfBell(channel)));
    // Bells rung while the connection was down are lost: every room is read again.
    bells.on("ready", () => this.#wake());
    cmd.on("close", () => this.#down());
    cmd.on("ready", () => this.#up());
    cmd.on("close", () => {
      this.#resendDue = true;
    });
    cmd.on("ready", () => this.#resendRecent());
    await this.#renew();
    const every = Math.max(100, Math.floor(this.#lease / 3));
    this.#timers.push(setInterval(() => void this.#renew().catch(() => {}), every));
    this.#timers.push(setInterval(() => void this.#reap().catch(() => {}), every));
    this.#timers.push(setInterval(() => this.#wake(), SWEEP_MS));
    for (const timer of this.#timers) timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    if (this.#lostTimer !== null) clearTimeout(this.#lostTimer);
    const cmd = this.#cmd;
    // No read is waited for: one sent while the connection was down may never settle.
    this.#reader?.disconnect();
    this.#bells?.disconnect();
    if (cmd === null) return;
    if (cmd.status === "ready") {
      // Stopped while coming back: what waits goes out before the goodbye.
      if (this.#waiting.length > 0) this.#sendWaiting();
      // This server is off the list at once: nothing for the others to reap.
      const done = Promise.all([
        cmd.zrem(this.#shared("servers"), this.server),
        cmd.del(this.#mine()),
        ...[...this.#roomsWritten].map((room) =>
          cmd.del(this.#roomKey(room, `sent:${this.server}`)),
        ),
        cmd.quit(),
      ]);
      const late = new Promise((resolve) => setTimeout(resolve, 2000).unref());
      await Promise.race([done.catch(() => {}), late]);
    }
    cmd.disconnect();
  }

  async open(room: string, history: number): Promise<ChatEvent[]> {
    const cmd = this.#cmd as RedisClient;
    void this.#bells?.subscribe(this.#bell(room)).catch(() => {});
    if (this.#lost) {
      this.#cursors.set(room, "$");
      return [];
    }
    const count = Math.min(this.#maxLength, Math.max(200, history * 20));
    const entries = await cmd.xrevrange(this.#roomKey(room, "log"), "+", "-", "COUNT", count);
    this.#cursors.set(room, entries[0]?.[0] ?? "0-0");
    this.#pull(room);
    const shown: ChatEvent[] = [];
    for (const [, fields] of entries) {
      if (shown.length >= history) break;
      const event = parseEvent(fields);
      if (event !== null && (event.kind === "say" || event.kind === "me")) shown.push(event);
    }
    return shown.reverse();
  }

  close(room: string): void {
    if (!this.#cursors.delete(room)) return;
    void this.#bells?.unsubscribe(this.#bell(room)).catch(() => {});
    for (const key of this.#delivered.keys()) {
      if (key.startsWith(`${room}\n`)) this.#delivered.delete(key);
    }
  }

  async claim(nick: string): Promise<boolean> {
    const low = nickKey(nick);
    if (this.#claims.has(low)) return false;
    if (this.#lost) {
      this.#claims.set(low, { nick, room: null, member: 0 });
      return true;
    }
    const ok =
      (await this.#script(
        "chatClaim",
        [this.#shared(`nick:${low}`)],
        [this.server, this.#lease],
      )) === 1;
    if (ok && !this.#claims.has(low)) this.#claims.set(low, { nick, room: null, member: 0 });
    return ok;
  }

  release(nick: string): void {
    const low = nickKey(nick);
    this.#claims.delete(low);
    if (this.#lost || this.#cmd === null) return;
    void this.#script(
      "chatRelease",
      [this.#shared(`nick:${low}`), this.#mine()],
      [this.server, low],
    ).catch(() => {});
  }

  publish(event: ChatEvent, quietBelow = NEVER_QUIET): Promise<boolean> {
    this.#track(event);
    const line = event.kind === "say" || event.kind === "me" || event.kind === "private";
    const full = this.#unconfirmed.size + this.#waiting.length >= this.#maxPending;
    // Alone, a join or leave at the cap still happens here (it is not kept for the others).
    if (full && (line || !this.#lost)) {
      return Promise.reject(
        new SocketError(
          `Cannot share the event: ${this.#maxPending} events wait for Redis already`,
          { code: "ERR_CHAT_BACKLOG" },
        ),
      );
    }
    if (this.#lost) return this.#alone(event, quietBelow);
    if (this.#rejoining) {
      // Back from being alone: what was said then goes first.
      return new Promise((resolve, reject) => {
        this.#waiting.push({ event, quietBelow, late: false, done: { resolve, reject } });
      });
    }
    return this.#write(event, quietBelow, false);
  }

  /** Writes the event to its room's stream (`late`: told, not acted on). */
  #write(event: ChatEvent, quietBelow: number, late: boolean): Promise<boolean> {
    const seq = ++this.#seq;
    if (late) event.late = true;
    this.#unconfirmed.set(seq, event);
    const low = nickKey(event.nick);
    const args: (string | number)[] = [
      late ? "late" : event.kind,
      JSON.stringify({ ...event, seq }),
      low,
      event.nick,
      this.server,
      quietBelow,
      this.#maxLength,
      this.#retention,
      seq,
      this.#bell(event.room),
    ];
    if (late) args.push(event.kind === "say" || event.kind === "me" ? 0 : 1);
    else if (event.kind === "rename") {
      const nick = event.text as string;
      args.push(nickKey(nick), nick);
    } else if (event.kind === "private") args.push(nickKey(event.to as string));
    const room = event.room;
    this.#roomsWritten.add(room);
    const keys = [
      this.#roomKey(room, "log"),
      this.#roomKey(room, "members"),
      this.#roomKey(room, `sent:${this.server}`),
    ];
    // This server's record of its members (to reap them if it dies) is in the shared slot,
    // the roster in the room's: it is written before the roster takes a member in, and
    // after the roster lets one go, so that it always holds every member of this server
    // a roster holds.
    // (A late event is not acted on: the record is settled with the rosters.)
    if (!late && event.kind !== "leave") this.#recordMember(event);
    const written = this.#script("chatPublish", keys, args);
    if (!late && event.kind === "leave") this.#recordMember(event);
    return written.then(
      (answer) => {
        this.#unconfirmed.delete(seq);
        this.#keepRecent({ seq, event, keys, args, at: performance.now() });
        const [done, members] = answer as [number, number];
        if (members >= 0) this.#count(room, members);
        return done !== 0;
      },
      (err: unknown) => {
        this.#unconfirmed.delete(seq);
        throw err;
      },
    );
  }

  async roster(room: string, limit: number): Promise<Roster> {
    if (this.#lost) return this.#localRoster(room, limit);
    const [count, values] = (await this.#script(
      "chatRoster",
      [this.#roomKey(room, "members")],
      [limit],
    )) as [number, string[]];
    const nicks = values.map((v) => v.slice(0, v.indexOf("\n"))).sort();
    return { count, nicks: nicks.slice(0, limit) };
  }

  async rooms(limit: number): Promise<RoomCount[]> {
    if (this.#lost) return this.#localRooms(limit);
    const flat = await (this.#cmd as RedisClient).zrevrangebyscore(
      this.#shared("rooms"),
      "+inf",
      "1",
      "WITHSCORES",
      "LIMIT",
      0,
      limit,
    );
    const out: RoomCount[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      out.push({ name: flat[i] as string, members: Number(flat[i + 1]) });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A key of one room: its hash tag is the room, so that each room's keys are in one slot. */
  #roomKey(room: string, name: string): string {
    return `${this.#prefix}room:{${room}}:${name}`;
  }

  /** The room's bell channel, rung as an event is written to its stream. */
  #bell(room: string): string {
    return `${this.#prefix}room:{${room}}:bell`;
  }

  #roomOfBell(channel: string): string {
    return channel.slice(this.#prefix.length + "room:{".length, -"}:bell".length);
  }

  /** A key shared by every room (servers, nicknames, room counts): all in one slot. */
  #shared(name: string): string {
    return `${this.#prefix}{shared}:${name}`;
  }

  /** The record of this server's members: nickname key → room, line feed, nickname. */
  #mine(id = this.server): string {
    return this.#shared(`server:${id}:members`);
  }

  /** Writes a member's room in this server's record, as a notice of its changes it. */
  #recordMember(event: ChatEvent): void {
    const cmd = this.#cmd as RedisClient;
    const low = nickKey(event.nick);
    if (event.kind === "join") {
      void cmd.hset(this.#mine(), low, `${event.room}\n${event.nick}`).catch(() => {});
    } else if (event.kind === "leave") {
      void cmd.hset(this.#mine(), low, `\n${event.nick}`).catch(() => {});
    } else if (event.kind === "rename") {
      const nick = event.text as string;
      void cmd.hset(this.#mine(), nickKey(nick), `${event.room}\n${nick}`).catch(() => {});
      void cmd.hdel(this.#mine(), low).catch(() => {});
    }
  }

  /** The number of members of a room, for `/rooms`, as its roster had it just now. */
  #count(room: string, members: number): void {
    const cmd = this.#cmd as RedisClient;
    const rooms = this.#shared("rooms");
    const done = members > 0 ? cmd.zadd(rooms, members, room) : cmd.zrem(rooms, room);
    void done.then(() => cmd.pexpire(rooms, this.#retention)).catch(() => {});
  }

  #script(name: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const cmd = this.#cmd as unknown as Record<string, Script>;
    return (cmd[name] as Script).call(this.#cmd, ...keys, ...args);
  }

  /** A connection, or a one-line error saying why there is none. */
  async #connect(role: string): Promise<RedisClient> {
    let reason = "";
    // Commands wait while the connection is down (and go out in order once it is back):
    // the outage is handled here, not by failing them.
    const redis = createRedisClient(this.#target, {
      connectionName: `socketkit-chat-${role}`,
      offlineQueue: true,
      resend: true,
    });
    // The first error ends the attempt: through Sentinels or to a Cluster, ioredis would
    // go on trying, and the server must say at once that it cannot start.
    const failed = new Promise<never>((_, reject) => {
      redis.on("error", (err: Error) => {
        reason ||= err.message;
        reject(err);
      });
    });
    failed.catch(() => {});
    try {
      await Promise.race([redis.connect(), failed]);
    } catch (err) {
      redis.disconnect();
      const why = (reason || (err instanceof Error ? err.message : String(err))).replace(
        / Retrying from scratch after \d+ms\./,
        "",
      );
      throw new Error(`Cannot connect to Redis at ${redactUrl(this.#url)}: ${why}`);
    }
    redis.removeAllListeners("error");
    redis.on("error", () => {
      // Reported once per outage by `#down`; ioredis reconnects by itself.
    });
    return redis;
  }

  /**
   * Reads a room's stream from the last entry delivered, delivering in its order; one read
   * at a time per room, and once more after it when asked meanwhile (its bell rang).
   */
  #pull(room: string): void {
    if (this.#stopped || this.#lost || !this.#cursors.has(room)) return;
    if (this.#pulling.has(room)) {
      this.#pulling.set(room, true);
      return;
    }
    this.#pulling.set(room, false);
    void this.#pullLoop(room)
      .catch(() => {
        // The connection dropped: every room is read again when it is back, or at the
        // next sweep.
      })
      .finally(() => this.#pulling.delete(room));
  }

  async #pullLoop(room: string): Promise<void> {
    const reader = this.#reader as RedisClient;
    const key = this.#roomKey(room, "log");
    for (;;) {
      let cursor = this.#cursors.get(room);
      if (cursor === undefined || this.#stopped || this.#lost) return;
      if (cursor === "$") {
        // Opened while Redis was lost: from what is there now on.
        const last = await reader.xrevrange(key, "+", "-", "COUNT", 1);
        if (this.#cursors.get(room) !== "$") continue;
        cursor = last[0]?.[0] ?? "0-0";
        this.#cursors.set(room, cursor);
      }
      this.#pulling.set(room, false);
      const result = (await reader.xread("COUNT", READ_COUNT, "STREAMS", key, cursor)) as
        | [string, [string, string[]][]][]
        | null;
      const entries = result?.[0]?.[1] ?? [];
      for (const [id, fields] of entries) {
        // A room closed meanwhile is not delivered; one reopened starts over.
        const at = this.#cursors.get(room);
        if (at === undefined || !idAfter(id, at)) continue;
        this.#cursors.set(room, id);
        const event = parseEvent(fields);
        if (event === null || event.room !== room) continue;
        if (event.server === this.server && (event as { seq?: number }).seq !== undefined) {
          if (((event as { seq?: number }).seq as number) <= this.#shownUpTo) continue;
          // Said while this server was alone: its members heard it then.
          if (event.late === true) continue;
        }
        if (this.#seen(event)) continue;
        this.#handlers?.deliver(event);
      }
      if (entries.length < READ_COUNT && this.#pulling.get(room) !== true) return;
    }
  }

  /**
   * Whether an event was delivered already: written again after a failover, it may have
   * been read from the old master too. Remembers it.
   */
  #seen(event: ChatEvent & { seq?: number }): boolean {
    if (event.seq === undefined) return false;
    const key = `${event.room}\n${event.server}`;
    let seqs = this.#delivered.get(key);
    if (seqs === undefined) {
      seqs = new Set();
      this.#delivered.set(key, seqs);
    }
    if (seqs.has(event.seq)) return true;
    seqs.add(event.seq);
    if (seqs.size > DELIVERED_KEPT) {
      for (const oldest of seqs) {
        seqs.delete(oldest);
        break;
      }
    }
    return false;
  }

  /** Keeps an event Redis confirmed for {@link RESEND_MS}, to write again after a failover. */
  #keepRecent(sent: Sent): void {
    this.#recent.push(sent);
    const old = sent.at - RESEND_MS;
    let drop = 0;
    while (
      drop < this.#recent.length &&
      ((this.#recent[drop] as Sent).at < old || this.#recent.length - drop > this.#maxPending)
    ) {
      drop++;
    }
    // Dropped in batches, so that the array is not shifted at every event.
    if (drop > 256 || drop === this.#recent.length) this.#recent = this.#recent.slice(drop);
  }

  /**
   * The connection is back, perhaps to another master: the events confirmed lately are
   * written again, in order. Those Redis has are recognised by their sequence numbers and
   * not written twice; those a failover lost are written now (after what was sent since,
   * but none is lost), and no server delivers one twice.
   */
  #resendRecent(): void {
    if (!this.#resendDue || this.#stopped) return;
    this.#resendDue = false;
    const since = performance.now() - RESEND_MS;
    const again = this.#recent
      .filter((sent) => sent.at >= since && this.#stillTrue(sent.event))
      .sort((a, b) => a.seq - b.seq);
    for (const sent of again) {
      void this.#script("chatPublish", sent.keys, sent.args).catch(() => {});
    }
  }

  /**
   * Whether an event is still to be written again: a message or a late event (told, not
   * acted on) always; a join, leave or rename only while its member is still where it put
   * them (written after what its member did since, it would put them back where they no
   * longer are).
   */
  #stillTrue(event: ChatEvent): boolean {
    if (event.late === true) return true;
    if (event.kind === "join") return this.#claims.get(nickKey(event.nick))?.room === event.room;
    if (event.kind === "rename") {
      return this.#claims.get(nickKey(event.text as string))?.room === event.room;
    }
    if (event.kind === "leave") return this.#claims.get(nickKey(event.nick))?.room !== event.room;
    return true;
  }

  /** Every open room's stream is read again (the rooms changed, or a bell may be lost). */
  #wake(): void {
    for (const room of this.#cursors.keys()) this.#pull(room);
  }

  /** The bus's record of this server's members, kept from what they publish. */
  #track(event: ChatEvent): void {
    const low = nickKey(event.nick);
    const claim = this.#claims.get(low);
    if (event.kind === "join") {
      this.#claims.set(low, { nick: event.nick, room: event.room, member: event.member });
    } else if (event.kind === "leave" && claim !== undefined) {
      claim.room = null;
    } else if (event.kind === "rename") {
      const nick = event.text as string;
      this.#claims.delete(low);
      this.#claims.set(nickKey(nick), { nick, room: event.room, member: event.member });
    }
  }

  /**
   * While Redis is lost: the event goes to this server's members, and waits to be told to
   * the others when Redis is back. A private message goes to a member of this server
   * only: one to a nickname not held here is refused, and is not kept.
   */
  #alone(event: ChatEvent, quietBelow: number): Promise<boolean> {
    if (event.kind === "private") {
      if (!this.#claims.has(nickKey(event.to as string))) {
        return Promise.reject(
          new SocketError(
            `Cannot send a private message to "${event.to}": not on this server, and the others cannot be reached`,
            { code: "ERR_CHAT_APART" },
          ),
        );
      }
      return Promise.resolve(this.#here(event, quietBelow));
    }
    const shown = this.#here(event, quietBelow);
    if (!shown) return Promise.resolve(false);
    if (this.#unconfirmed.size + this.#waiting.length < this.#maxPending) {
      this.#waiting.push({ event, quietBelow, late: true });
    } else if (!this.#dropLogged) {
      // Only notices get here (lines are refused above): the rosters are settled anyway.
      this.#dropLogged = true;
      this.#log(`${this.#maxPending} events wait for Redis: joins and leaves are not kept`);
    }
    return Promise.resolve(true);
  }

  /** While Redis is lost: the event goes to this server's members only. */
  #here(event: ChatEvent, quietBelow: number): boolean {
    if (event.kind === "private") {
      const to = this.#claims.get(nickKey(event.to as string));
      if (to === undefined || to.room !== event.room) return false;
      event.to = to.nick;
    }
    const notice = event.kind === "join" || event.kind === "leave" || event.kind === "rename";
    if (notice && this.#localRoster(event.room, 0).count >= quietBelow) return false;
    queueMicrotask(() => {
      if (this.#cursors.has(event.room)) this.#handlers?.deliver(event);
    });
    return true;
  }

  #localRoster(room: string, limit: number): Roster {
    const nicks: string[] = [];
    for (const claim of this.#claims.values()) if (claim.room === room) nicks.push(claim.nick);
    nicks.sort();
    return { count: nicks.length, nicks: nicks.slice(0, limit) };
  }

  #localRooms(limit: number): RoomCount[] {
    const counts = new Map<string, number>();
    for (const claim of this.#claims.values()) {
      if (claim.room !== null) counts.set(claim.room, (counts.get(claim.room) ?? 0) + 1);
    }
    return [...counts]
      .map(([name, members]) => ({ name, members }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, limit);
  }

  /** The connection dropped: what is sent waits, for `catchUp` at most. */
  #down(): void {
    if (this.#stopped || this.#downSince !== null) return;
    this.#downSince = performance.now();
    this.#log(`lost the connection to Redis at ${redactUrl(this.#url)}; reconnecting`);
    this.#lostTimer = setTimeout(() => this.#goLocal(), this.#catchUp);
    this.#lostTimer.unref();
  }

  /** Down longer than `catchUp`: this server's rooms go on alone until Redis is back. */
  #goLocal(): void {
    this.#lostTimer = null;
    if (this.#stopped || this.#downSince === null) return;
    this.#lost = true;
    // What was sent and is still waiting is shown here now, and not again when it is read
    // back (it goes out to the others once Redis is back).
    const waiting = [...this.#unconfirmed].sort((a, b) => a[0] - b[0]);
    this.#shownUpTo = this.#seq;
    for (const [, event] of waiting) {
      if (event.late !== true && this.#cursors.has(event.room)) this.#handlers?.deliver(event);
    }
    // Published while coming back, and not out yet: shown here now, told late to the others.
    for (const entry of this.#waiting) {
      if (entry.late) continue;
      entry.late = true;
      if (this.#cursors.has(entry.event.room)) this.#handlers?.deliver(entry.event);
    }
    this.#log("Redis unreachable for too long: the rooms are this server's only until it returns");
    this.#handlers?.shared?.(
      false,
      "The other servers cannot be reached: only this server's members hear you until they can.",
    );
  }

  /** The connection is back: claims renewed (or made again), and the rooms carry on. */
  #up(): void {
    if (this.#stopped || this.#downSince === null) return;
    const wasLost = this.#lost;
    this.#downSince = null;
    this.#lost = false;
    if (this.#lostTimer !== null) clearTimeout(this.#lostTimer);
    this.#lostTimer = null;
    this.#log(`reconnected to Redis at ${redactUrl(this.#url)}`);
    if (!wasLost) return;
    this.#rejoining = true;
    this.#wake();
    this.#handlers?.shared?.(true, "The other servers are back: everyone hears you again.");
    void this.#renew().catch(() => {});
  }

  /**
   * Renews this server's lease and its nicknames. When the lease had lapsed (the others
   * took this server for lost), its members are put back in the rosters and announced;
   * a nickname someone else took meanwhile is changed.
   */
  async #renew(): Promise<void> {
    const cmd = this.#cmd;
    if (cmd === null || cmd.status !== "ready" || this.#stopped) return;
    // One renewal brings the server back after it was alone; should it fail, the next does.
    const rejoining = this.#rejoining && !this.#settling;
    if (rejoining) this.#settling = true;
    try {
      await this.#renewClaims(cmd, rejoining);
    } finally {
      if (rejoining) this.#settling = false;
    }
  }

  async #renewClaims(cmd: RedisClient, rejoining: boolean): Promise<void> {
    const claims = [...this.#claims.values()];
    const head = [this.#shared("servers"), this.#mine()];
    let fresh = false;
    for (let at = 0; at === 0 || at < claims.length; at += RENEW_BATCH) {
      const batch = claims.slice(at, at + RENEW_BATCH);
      const keys = batch.map((c) => this.#shared(`nick:${nickKey(c.nick)}`));
      const [added, lost] = (await cmd.eval(
        RENEW,
        head.length + keys.length,
        ...head,
        ...keys,
        this.server,
        this.#lease,
        this.#retention,
      )) as [number, number[]];
      if (added === 1) fresh = true;
      for (const position of lost) await this.#retake(batch[position - 1] as LocalClaim);
    }
    // The rosters of the rooms this server's members are in live as long as they do.
    // (One command each: on a Cluster the rooms are in different slots.)
    await Promise.all(
      [...this.#cursors.keys()].map((room) =>
        cmd.pexpire(this.#roomKey(room, "members"), this.#retention),
      ),
    );
    if (rejoining) await this.#settle(cmd);
    if (fresh && claims.length > 0) await this.#rejoin();
    if (rejoining) this.#sendWaiting();
  }

  /**
   * Back from being alone: this server's members are put in the rosters as they are now
   * (those who left or moved meanwhile taken out), whatever the others did with them. One
   * script per room; this server's record of its members takes the members in before the
   * rosters do, and lets those gone go after, so that it holds every member of this server
   * a roster holds.
   */
  async #settle(cmd: RedisClient): Promise<void> {
    const mine = this.#mine();
    const was = await cmd.hgetall(mine);
    /** By room: `-` or `+`, nickname key, nickname. */
    const byRoom = new Map<string, string[]>();
    const add = (room: string, ...op: string[]): void => {
      const ops = byRoom.get(room);
      if (ops === undefined) byRoom.set(room, op);
      else ops.push(...op);
    };
    const gone: string[] = [];
    for (const [low, value] of Object.entries(was)) {
      const cut = value.indexOf("\n");
      if (cut === -1) continue;
      const room = value.slice(0, cut);
      const claim = this.#claims.get(low);
      if (claim?.room === (room === "" ? null : room)) continue;
      if (room !== "") add(room, "-", low, value.slice(cut + 1));
      if (claim === undefined) gone.push(low);
    }
    const now: string[] = [];
    for (const [low, claim] of this.#claims) {
      now.push(low, `${claim.room ?? ""}\n${claim.nick}`);
      if (claim.room !== null) add(claim.room, "+", low, claim.nick);
    }
    for (let at = 0; at < now.length; at += 2 * RENEW_BATCH) {
      await cmd.hset(mine, ...now.slice(at, at + 2 * RENEW_BATCH));
    }
    for (const [room, ops] of byRoom) {
      let members = 0;
      for (let at = 0; at < ops.length; at += 3 * RENEW_BATCH) {
        members = (await this.#script(
          "chatSettle",
          [this.#roomKey(room, "members")],
          [this.server, this.#retention, ...ops.slice(at, at + 3 * RENEW_BATCH)],
        )) as number;
      }
      this.#count(room, members);
    }
    for (let at = 0; at < gone.length; at += RENEW_BATCH) {
      await cmd.hdel(mine, ...gone.slice(at, at + RENEW_BATCH));
    }
  }

  /**
   * What waited for Redis goes to the room's streams, in the order it was said: what was
   * said while alone marked late, then what was published while coming back.
   */
  #sendWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#rejoining = false;
    this.#dropLogged = false;
    // Written one after the other, each room's on its one connection (its node's on a
    // Cluster): Redis takes each room's in this order.
    for (const { event, quietBelow, late, done } of waiting) {
      // Told under the name the others know its member by now.
      const renamed = event.server === this.server ? this.#retaken.get(event.member) : undefined;
      if (renamed !== undefined) {
        if (nickKey(event.nick) === nickKey(renamed.old)) event.nick = renamed.nick;
        if (event.kind === "rename" && nickKey(event.text ?? "") === nickKey(renamed.old)) {
          event.text = renamed.nick;
        }
      }
      const written = this.#write(event, quietBelow, late);
      if (done !== undefined) written.then(done.resolve, done.reject);
      else written.catch(() => {});
    }
    this.#retaken.clear();
  }

  /** A nickname of this server's is held by another server: this member gets another. */
  async #retake(claim: LocalClaim): Promise<void> {
    const old = claim.nick;
    for (let tries = 0; tries < 20; tries++) {
      const nick = `${old.slice(0, 19)}_${randomBytes(2).toString("hex")}`;
      if (this.#claims.has(nickKey(nick))) continue;
      const ok = await this.#script(
        "chatClaim",
        [this.#shared(`nick:${nickKey(nick)}`)],
        [this.server, this.#lease],
      );
      if (ok !== 1) continue;
      if (this.#claims.get(nickKey(old)) !== claim) return; // gone meanwhile
      this.#claims.delete(nickKey(old));
      claim.nick = nick;
      this.#claims.set(nickKey(nick), claim);
      if (this.#waiting.length > 0) this.#retaken.set(claim.member, { old, nick });
      this.#handlers?.renamed?.(old, nick);
      return;
    }
  }

  /** After this server was taken for lost: its members join their rooms again. */
  async #rejoin(): Promise<void> {
    this.#log("this server had been taken for lost: its members join again");
    for (const claim of [...this.#claims.values()]) {
      if (claim.room === null) continue;
      await this.#write(
        {
          kind: "join",
          room: claim.room,
          nick: claim.nick,
          server: this.server,
          member: claim.member,
          time: Date.now(),
          // Its own server's members did not see it leave: they are not told it is back.
          text: "back",
        },
        this.#quietAbove + 1,
        false,
      );
    }
  }

  /** Takes the servers whose lease lapsed off, announcing their members as lost. */
  async #reap(): Promise<void> {
    if (this.#cmd?.status !== "ready" || this.#stopped || this.#lost) return;
    for (let i = 0; i < 10; i++) {
      const id = await this.#script(
        "chatReapTake",
        [this.#shared("servers"), this.#shared("reaping")],
        [this.#lease],
      );
      if (typeof id !== "string") return;
      await this.#reapServer(id);
      this.#log(`server ${id} lost: its members are shown as left`);
    }
  }

  /**
   * A lost server's members leave their rooms (one script per room: each room is a slot
   * of its own on a Cluster), then its nicknames are freed and its record forgotten. A
   * reaper that dies halfway leaves the server marked as being reaped, and another one
   * takes it over once that mark's lease lapses: each step can be done twice.
   */
  async #reapServer(id: string): Promise<void> {
    const cmd = this.#cmd as RedisClient;
    const record = await cmd.hgetall(this.#mine(id));
    const byRoom = new Map<string, string[]>();
    const lows: string[] = [];
    for (const [low, value] of Object.entries(record)) {
      lows.push(low);
      const cut = value.indexOf("\n");
      if (cut <= 0) continue;
      const room = value.slice(0, cut);
      const members = byRoom.get(room) ?? [];
      members.push(low, value.slice(cut + 1));
      byRoom.set(room, members);
    }
    for (const [room, members] of byRoom) {
      for (let at = 0; at < members.length; at += 2 * RENEW_BATCH) {
        const left = (await this.#script(
          "chatReapRoom",
          [
            this.#roomKey(room, "log"),
            this.#roomKey(room, "members"),
            this.#roomKey(room, `sent:${id}`),
          ],
          [
            id,
            this.#quietAbove,
            this.#maxLength,
            this.#retention,
            this.#bell(room),
            room,
            ...members.slice(at, at + 2 * RENEW_BATCH),
          ],
        )) as number;
        this.#count(room, left);
      }
    }
    const head = [this.#shared("servers"), this.#shared("reaping"), this.#mine(id)];
    for (let at = 0; at === 0 || at < lows.length; at += RENEW_BATCH) {
      const keys = lows.slice(at, at + RENEW_BATCH).map((low) => this.#shared(`nick:${low}`));
      const last = at + RENEW_BATCH >= lows.length ? "1" : "0";
      await cmd.eval(REAP_DONE, head.length + keys.length, ...head, ...keys, id, last);
    }
  }
}

/** An event read from a stream entry's fields, or null when it is not a valid one. */
function parseEvent(fields: string[]): ChatEvent | null {
  let json: string | undefined;
  let to: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "e") json = fields[i + 1];
    else if (fields[i] === "to") to = fields[i + 1];
  }
  if (json === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  const e = value as Partial<ChatEvent> & { seq?: unknown };
  if (
    typeof e !== "object" ||
    e === null ||
    !KINDS.has(e.kind as ChatEventKind) ||
    typeof e.room !== "string" ||
    typeof e.nick !== "string" ||
    typeof e.server !== "string" ||
    typeof e.member !== "number" ||
    typeof e.time !== "number" ||
    (e.text !== undefined && typeof e.text !== "string")
  ) {
    return null;
  }
  const event: ChatEvent & { seq?: number } = {
    kind: e.kind as ChatEventKind,
    room: e.room,
    nick: e.nick,
    server: e.server,
    member: e.member,
    time: e.time,
  };
  if (e.text !== undefined) event.text = e.text;
  if (to !== undefined) event.to = to;
  if (typeof e.seq === "number") event.seq = e.seq;
  if (e.late === true) event.late = true;
  return event;
}

/** Whether stream entry id `a` comes after `b` (`$`: the end, before anything new). */
function idAfter(a: string, b: string): boolean {
  if (b === "$") return true;
  const [am, as] = a.split("-").map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split("-").map(BigInt) as [bigint, bigint];
  return am > bm || (am === bm && as > bs);
}
