import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Redis } from "ioredis";
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

/** A member of this server as the bus knows it, to renew and to bring back. */
interface LocalClaim {
  nick: string;
  /** Its room, once it has joined one. */
  room: string | null;
  member: number;
}

/**
 * How long a blocking read waits before asking again (ms): the longest a room opened while
 * a read was on its way to Redis (its CLIENT UNBLOCK too early) waits for its first events.
 */
const BLOCK_MS = 1000;
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

/**
 * KEYS: stream, roster, rooms, this server's members. ARGV: kind, event (JSON), the
 * nickname's key (`nickKey`), nickname, server, room, quietBelow, maxLength, retention, the event's sequence
 * number, then for a rename the new nickname as its key (`nickKey`) and as is, for a private message
 * the recipient's key, for an event said while the server was alone (kind `late`) 1 when it
 * is a notice. An event whose number is not above the last one of its server was written
 * already (the command was sent again after a reconnection): -1. A late event is told, not
 * acted on: the rosters are put right by SETTLE.
 */
const PUBLISH = `local kind = ARGV[1]
local log, roster, rooms, mine = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local low, nick, server, room = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local quiet, maxlen, keep = tonumber(ARGV[7]), ARGV[8], ARGV[9]
local seq = tonumber(ARGV[10])
if seq <= tonumber(redis.call('HGET', mine, '#seq') or '0') then return -1 end
redis.call('HSET', mine, '#seq', seq)
if kind == 'late' then
  if ARGV[11] == '1' and redis.call('HLEN', roster) >= quiet then return 0 end
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[2])
  redis.call('PEXPIRE', log, keep)
  return 1
end
local notice = true
if kind == 'join' then
  if redis.call('HSET', roster, low, nick .. '\\n' .. server) == 1 then
    redis.call('ZINCRBY', rooms, 1, room)
  end
  redis.call('HSET', mine, low, room .. '\\n' .. nick)
elseif kind == 'leave' then
  if redis.call('HDEL', roster, low) == 1 then redis.call('ZINCRBY', rooms, -1, room) end
  redis.call('HSET', mine, low, '\\n' .. nick)
elseif kind == 'rename' then
  redis.call('HDEL', roster, low)
  redis.call('HSET', roster, ARGV[11], ARGV[12] .. '\\n' .. server)
  redis.call('HDEL', mine, low)
  redis.call('HSET', mine, ARGV[11], room .. '\\n' .. ARGV[12])
elseif kind == 'private' then
  local to = redis.call('HGET', roster, ARGV[11])
  if not to then return 0 end
  to = string.sub(to, 1, string.find(to, '\\n', 1, true) - 1)
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[2], 'to', to)
  redis.call('PEXPIRE', log, keep)
  return 1
else
  notice = false
end
if notice then
  redis.call('PEXPIRE', roster, keep)
  redis.call('PEXPIRE', rooms, keep)
  redis.call('ZREMRANGEBYSCORE', rooms, '-inf', 0)
  if redis.call('HLEN', roster) >= quiet then return 0 end
end
redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[2])
redis.call('PEXPIRE', log, keep)
return 1
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
 * KEYS: servers, rooms. ARGV: prefix, quietAbove, maxLength, retention. Takes one server
 * whose lease has lapsed off the list, and for each of its members still in a roster:
 * removes it, announces it left (server lost) while the room is small enough, frees its
 * nickname. One server at a time, so that the script stays short. Returns its id, or false.
 */
const REAP = `${LUA_NOW}local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #dead == 0 then return false end
local id = dead[1]
redis.call('ZREM', KEYS[1], id)
local prefix, quiet = ARGV[1], tonumber(ARGV[2])
local mine = prefix .. 'server:' .. id .. ':members'
local all = redis.call('HGETALL', mine)
for i = 1, #all, 2 do
  local low, v = all[i], all[i + 1]
  local cut = string.find(v, '\\n', 1, true)
  local room, nick = '', ''
  if cut then room, nick = string.sub(v, 1, cut - 1), string.sub(v, cut + 1) end
  if room ~= '' then
    local roster = prefix .. 'room:' .. room .. ':members'
    if redis.call('HGET', roster, low) == nick .. '\\n' .. id then
      redis.call('HDEL', roster, low)
      redis.call('ZINCRBY', KEYS[2], -1, room)
      if redis.call('HLEN', roster) < quiet then
        local e = cjson.encode({kind = 'leave', room = room, nick = nick, server = id,
          member = -1, time = now, text = 'server lost'})
        local log = prefix .. 'room:' .. room .. ':log'
        redis.call('XADD', log, 'MAXLEN', '~', ARGV[3], '*', 'e', e)
        redis.call('PEXPIRE', log, ARGV[4])
      end
    end
  end
  local key = prefix .. 'nick:' .. low
  if redis.call('GET', key) == id then redis.call('DEL', key) end
end
redis.call('DEL', mine)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', 0)
return id
`;

/**
 * KEYS: rooms, this server's members. ARGV: prefix, server, retention, then for each member
 * `-` (no longer in that room) or `+` (in it now), its nickname key, nickname and room
 * (empty: none). Puts this server's members in the rosters as they are now, after it was
 * alone: an entry is taken out only when it is this server's, and one held by another
 * server is left to it.
 */
const SETTLE = `local rooms, mine = KEYS[1], KEYS[2]
local prefix, server, keep = ARGV[1], ARGV[2], ARGV[3]
local tail = '\\n' .. server
local function ours(v) return v and string.sub(v, -#tail) == tail end
for i = 4, #ARGV, 4 do
  local op, low, nick, room = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local roster = prefix .. 'room:' .. room .. ':members'
  if op == '-' then
    if room ~= '' and ours(redis.call('HGET', roster, low)) then
      redis.call('HDEL', roster, low)
      redis.call('ZINCRBY', rooms, -1, room)
    end
    redis.call('HDEL', mine, low)
  else
    if room ~= '' then
      local v = redis.call('HGET', roster, low)
      if not v or ours(v) then
        if redis.call('HSET', roster, low, nick .. tail) == 1 then
          redis.call('ZINCRBY', rooms, 1, room)
        end
        redis.call('PEXPIRE', roster, keep)
      end
    end
    redis.call('HSET', mine, low, room .. '\\n' .. nick)
  end
end
redis.call('PEXPIRE', rooms, keep)
redis.call('ZREMRANGEBYSCORE', rooms, '-inf', 0)
return 1
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
 * events. Every server appends what its members do (XADD) and reads the streams of the
 * rooms its members are in from the last entry it has delivered (XREAD BLOCK), so every
 * member of every server sees the same events in the same order, and a server whose
 * connection drops for a while carries on from where it was. One cut off for longer than
 * `catchUp` goes on alone, and what its members said meanwhile is written, marked late,
 * when Redis is back. A room's roster is a hash;
 * a nickname is a key holding its server's id with a lease (SET NX PX) that the server
 * renews; each server also renews its entry in a sorted set of servers. A server that
 * stops renewing (killed) is taken off by another one once its lease lapses: its members
 * are removed from the rosters and shown as `left (server lost)`, and their nicknames
 * freed. Every key expires or is trimmed.
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
  readonly #prefix: string;
  readonly #lease: number;
  readonly #catchUp: number;
  readonly #maxLength: number;
  readonly #retention: number;
  readonly #maxPending: number;
  readonly #quietAbove: number;
  readonly #log: (line: string) => void;
  #cmd: Redis | null = null;
  #reader: Redis | null = null;
  #readerId: number | null = null;
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
  #reading: Promise<void> | null = null;

  constructor(url: string, options: RedisChatBusOptions = {}) {
    this.#url = url;
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
    cmd.defineCommand("chatPublish", { numberOfKeys: 4, lua: PUBLISH });
    cmd.defineCommand("chatClaim", { numberOfKeys: 1, lua: CLAIM });
    cmd.defineCommand("chatRelease", { numberOfKeys: 2, lua: RELEASE });
    cmd.defineCommand("chatReap", { numberOfKeys: 2, lua: REAP });
    cmd.defineCommand("chatRoster", { numberOfKeys: 1, lua: ROSTER });
    cmd.defineCommand("chatSettle", { numberOfKeys: 2, lua: SETTLE });
    this.#reader = await this.#connect("reader");
    this.#readerId = Number(await this.#reader.client("ID"));
    this.#reader.on("ready", () => {
      void this.#reader
        ?.client("ID")
        .then((id) => {
          this.#readerId = Number(id);
        })
        .catch(() => {});
    });
    cmd.on("close", () => this.#down());
    cmd.on("ready", () => this.#up());
    await this.#renew();
    const every = Math.max(100, Math.floor(this.#lease / 3));
    this.#timers.push(setInterval(() => void this.#renew().catch(() => {}), every));
    this.#timers.push(setInterval(() => void this.#reap().catch(() => {}), every));
    for (const timer of this.#timers) timer.unref();
    this.#reading = this.#readLoop();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    if (this.#lostTimer !== null) clearTimeout(this.#lostTimer);
    const cmd = this.#cmd;
    const reader = this.#reader;
    reader?.disconnect();
    // A read sent while the connection was down may never settle (ioredis keeps it for a
    // reconnection that a disconnect during the back-off cancels): not waited for past a turn.
    const turn = new Promise((resolve) => setTimeout(resolve, BLOCK_MS).unref());
    await Promise.race([this.#reading?.catch(() => {}), turn]);
    if (cmd === null) return;
    if (cmd.status === "ready") {
      // Stopped while coming back: what waits goes out before the goodbye.
      if (this.#waiting.length > 0) this.#sendWaiting();
      // This server is off the list at once: nothing for the others to reap.
      const done = Promise.all([
        cmd.zrem(this.#key("servers"), this.server),
        cmd.del(this.#key(`server:${this.server}:members`)),
        cmd.quit(),
      ]);
      const late = new Promise((resolve) => setTimeout(resolve, 2000).unref());
      await Promise.race([done.catch(() => {}), late]);
    }
    cmd.disconnect();
  }

  async open(room: string, history: number): Promise<ChatEvent[]> {
    const cmd = this.#cmd as Redis;
    if (this.#lost) {
      this.#cursors.set(room, "$");
      return [];
    }
    const count = Math.min(this.#maxLength, Math.max(200, history * 20));
    const entries = await cmd.xrevrange(this.#key(`room:${room}:log`), "+", "-", "COUNT", count);
    this.#cursors.set(room, entries[0]?.[0] ?? "0-0");
    this.#wake();
    const shown: ChatEvent[] = [];
    for (const [, fields] of entries) {
      if (shown.length >= history) break;
      const event = parseEvent(fields);
      if (event !== null && (event.kind === "say" || event.kind === "me")) shown.push(event);
    }
    return shown.reverse();
  }

  close(room: string): void {
    if (this.#cursors.delete(room)) this.#wake();
  }

  async claim(nick: string): Promise<boolean> {
    const low = nickKey(nick);
    if (this.#claims.has(low)) return false;
    if (this.#lost) {
      this.#claims.set(low, { nick, room: null, member: 0 });
      return true;
    }
    const ok =
      (await this.#script("chatClaim", [this.#key(`nick:${low}`)], [this.server, this.#lease])) ===
      1;
    if (ok && !this.#claims.has(low)) this.#claims.set(low, { nick, room: null, member: 0 });
    return ok;
  }

  release(nick: string): void {
    const low = nickKey(nick);
    this.#claims.delete(low);
    if (this.#lost || this.#cmd === null) return;
    void this.#script(
      "chatRelease",
      [this.#key(`nick:${low}`), this.#key(`server:${this.server}:members`)],
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
      event.room,
      quietBelow,
      this.#maxLength,
      this.#retention,
      seq,
    ];
    if (late) args.push(event.kind === "say" || event.kind === "me" ? 0 : 1);
    else if (event.kind === "rename") {
      const nick = event.text as string;
      args.push(nickKey(nick), nick);
    } else if (event.kind === "private") args.push(nickKey(event.to as string));
    const keys = [
      this.#key(`room:${event.room}:log`),
      this.#key(`room:${event.room}:members`),
      this.#key("rooms"),
      this.#key(`server:${this.server}:members`),
    ];
    return this.#script("chatPublish", keys, args).then(
      (done) => {
        this.#unconfirmed.delete(seq);
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
      [this.#key(`room:${room}:members`)],
      [limit],
    )) as [number, string[]];
    const nicks = values.map((v) => v.slice(0, v.indexOf("\n"))).sort();
    return { count, nicks: nicks.slice(0, limit) };
  }

  async rooms(limit: number): Promise<RoomCount[]> {
    if (this.#lost) return this.#localRooms(limit);
    const flat = await (this.#cmd as Redis).zrevrangebyscore(
      this.#key("rooms"),
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

  #key(name: string): string {
    return this.#prefix + name;
  }

  #script(name: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const cmd = this.#cmd as unknown as Record<string, Script>;
    return (cmd[name] as Script).call(this.#cmd, ...keys, ...args);
  }

  /** A connection, or a one-line error saying why there is none. */
  async #connect(role: string): Promise<Redis> {
    let reason = "";
    const redis = new Redis(this.#url, {
      lazyConnect: true,
      // Commands wait while the connection is down (and go out in order once it is back):
      // the outage is handled here, not by failing them.
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      connectionName: `socketkit-chat-${role}`,
    });
    redis.on("error", (err: Error) => {
      reason ||= err.message;
    });
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      const why = reason || (err instanceof Error ? err.message : String(err));
      throw new Error(`Cannot connect to Redis at ${redactUrl(this.#url)}: ${why}`);
    }
    redis.removeAllListeners("error");
    redis.on("error", () => {
      // Reported once per outage by `#down`; ioredis reconnects by itself.
    });
    return redis;
  }

  /** Follows every open room's stream, delivering in each room's order. */
  async #readLoop(): Promise<void> {
    const reader = this.#reader as Redis;
    while (!this.#stopped) {
      const rooms = [...this.#cursors.keys()];
      if (rooms.length === 0 || this.#lost) {
        await new Promise<void>((resolve) => {
          this.#wakeUp = resolve;
          setTimeout(resolve, BLOCK_MS).unref();
        });
        continue;
      }
      const keys = rooms.map((room) => this.#key(`room:${room}:log`));
      const ids = rooms.map((room) => this.#cursors.get(room) as string);
      let result: [string, [string, string[]][]][] | null;
      try {
        result = (await reader.xread(
          "COUNT",
          READ_COUNT,
          "BLOCK",
          BLOCK_MS,
          "STREAMS",
          ...keys,
          ...ids,
        )) as [string, [string, string[]][]][] | null;
      } catch {
        if (this.#stopped) return;
        await new Promise((resolve) => setTimeout(resolve, 200).unref());
        continue;
      }
      if (result === null) continue;
      for (const [key, entries] of result) {
        const room = key.slice(this.#prefix.length + 5, -4);
        for (const [id, fields] of entries) {
          // A room closed meanwhile is not delivered; one reopened starts over.
          const cursor = this.#cursors.get(room);
          if (cursor === undefined || !idAfter(id, cursor)) continue;
          this.#cursors.set(room, id);
          const event = parseEvent(fields);
          if (event === null || event.room !== room) continue;
          if (event.server === this.server && (event as { seq?: number }).seq !== undefined) {
            if (((event as { seq?: number }).seq as number) <= this.#shownUpTo) continue;
            // Said while this server was alone: its members heard it then.
            if (event.late === true) continue;
          }
          this.#handlers?.deliver(event);
        }
      }
    }
  }

  #wakeUp: (() => void) | null = null;

  /** The rooms to read have changed: the blocked read starts again with them. */
  #wake(): void {
    this.#wakeUp?.();
    this.#wakeUp = null;
    if (this.#readerId !== null && this.#cmd?.status === "ready") {
      void this.#cmd.client("UNBLOCK", this.#readerId).catch(() => {});
    }
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

  async #renewClaims(cmd: Redis, rejoining: boolean): Promise<void> {
    const claims = [...this.#claims.values()];
    const head = [this.#key("servers"), this.#key(`server:${this.server}:members`)];
    let fresh = false;
    for (let at = 0; at === 0 || at < claims.length; at += RENEW_BATCH) {
      const batch = claims.slice(at, at + RENEW_BATCH);
      const keys = batch.map((c) => this.#key(`nick:${nickKey(c.nick)}`));
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
    const pipeline = cmd.pipeline();
    for (const room of this.#cursors.keys()) {
      pipeline.pexpire(this.#key(`room:${room}:members`), this.#retention);
    }
    await pipeline.exec();
    if (rejoining) await this.#settle(cmd);
    if (fresh && claims.length > 0) await this.#rejoin();
    if (rejoining) this.#sendWaiting();
  }

  /**
   * Back from being alone: this server's members are put in the rosters as they are now
   * (those who left or moved meanwhile taken out), whatever the others did with them.
   */
  async #settle(cmd: Redis): Promise<void> {
    const was = await cmd.hgetall(this.#key(`server:${this.server}:members`));
    const ops: string[] = [];
    for (const [low, value] of Object.entries(was)) {
      const cut = value.indexOf("\n");
      if (low === "#seq" || cut === -1) continue;
      const room = value.slice(0, cut);
      if (this.#claims.get(low)?.room === (room === "" ? null : room)) continue;
      ops.push("-", low, value.slice(cut + 1), room);
    }
    for (const [low, claim] of this.#claims) ops.push("+", low, claim.nick, claim.room ?? "");
    const head = [this.#key("rooms"), this.#key(`server:${this.server}:members`)];
    for (let at = 0; at < ops.length; at += 4 * RENEW_BATCH) {
      await this.#script("chatSettle", head, [
        this.#prefix,
        this.server,
        this.#retention,
        ...ops.slice(at, at + 4 * RENEW_BATCH),
      ]);
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
    // Written one after the other on the one connection: Redis takes them in this order.
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
        [this.#key(`nick:${nickKey(nick)}`)],
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
        "chatReap",
        [this.#key("servers"), this.#key("rooms")],
        [this.#prefix, this.#quietAbove, this.#maxLength, this.#retention],
      );
      if (id === null || id === 0) return;
      this.#log(`server ${String(id)} lost: its members are shown as left`);
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

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
