import {
  type ChatBus,
  type ChatEvent,
  type ChatEventKind,
  type MaybePromise,
  type Roster,
  whenReady,
} from "./chat-bus.ts";
import type { HostLimit } from "./host-limit.ts";
import { LocalChatBus } from "./local-chat-bus.ts";
import { LocalHostLimit } from "./local-host-limit.ts";
import { nickKey } from "./nick-key.ts";
import { clock, decodeLine, escapeControls, nickProblem, roomProblem } from "./text.ts";

/** Options of {@link ChatRoom}. */
export interface ChatRoomOptions {
  /** The first room's name: every member starts there. @default "lobby" */
  name?: string;
  /** Messages kept and shown to whoever joins. @default 20 */
  history?: number;
  /** Most members at once; more are told the room is full. @default 10000 */
  maxMembers?: number;
  /**
   * Connections at once from one address (an IPv6 /64), named or not yet: more are told so
   * in one line and closed, and logged once per address. @default 20
   */
  maxPerHost?: number;
  /**
   * Where connections are counted per address: shared with other servers, or not.
   * @default a `LocalHostLimit` of `maxPerHost` (this server only)
   */
  hostLimit?: HostLimit;
  /**
   * Seconds a connection has to choose a nickname before it is closed (null: no limit).
   * @default 60
   */
  nickTimeout?: number | null;
  /** Messages (renames included) a second a member may send, on average. @default 5 */
  rate?: number;
  /** Messages a member may send at once before the rate applies. @default 10 */
  burst?: number;
  /**
   * Lines refused (too long, too fast, unknown) with no message let through between them
   * before a member is disconnected. @default 20
   */
  maxStrikes?: number;
  /**
   * Join, leave and rename notices go out while the room has at most this many members;
   * above it they would be most of the traffic (each one goes to every member).
   * @default 200
   */
  quietAbove?: number;
  /** The clock for time stamps. @default () => new Date() */
  now?: () => Date;
  /** Where the room's events go (joins, leaves, disconnections). @default nothing */
  log?: (line: string) => void;
  /**
   * What the rooms share with other servers: nicknames, rosters, the order of events and
   * the history. @default a {@link LocalChatBus} (this process only)
   */
  bus?: ChatBus;
  /**
   * Lines a member may send while its nickname or room is being settled with a bus over the
   * network; more are refused. @default 100
   */
  maxPending?: number;
}

/** The way out to one member: its bounded outgoing queue, and closing it. */
export interface MemberLink {
  /** Queues bytes for the member; false when its queue is full (it is not reading). */
  send(data: Buffer): boolean;
  /** Ends the member's connection: after what is queued (`flush`) or at once. */
  close(flush: boolean): void;
  /** The member's address, for the log. */
  readonly address: string;
  /**
   * The peer's IP address (no port), counted for `maxPerHost`; none for the server's own
   * terminal, which is not counted. @default undefined
   */
  readonly host?: string;
}

/** One connection in the room, with or without a nickname yet. */
export class Member {
  readonly link: MemberLink;
  /** The member's number on this server. */
  readonly id: number;
  nick: string | null = null;
  /** The room the member is in (the first room until it goes elsewhere). */
  room: string;
  /** Set once the member has left; lines after it are ignored. */
  gone = false;
  /** Its nickname or room is being settled: its lines wait in `pending`. */
  busy = false;
  readonly pending: Buffer[] = [];
  /** The address group it counts in for `maxPerHost` (null: not counted). */
  hostGroup: string | null = null;
  /** Closes it if it has not chosen a nickname in time. */
  nickTimer: NodeJS.Timeout | null = null;
  /** When the line being taken arrived (`performance.now()`), when the server knows it. */
  arrivedAt: number | null = null;
  #tokens: number;
  #refilled: number;
  #strikes = 0;

  constructor(link: MemberLink, burst: number, id = 0, room = "lobby") {
    this.link = link;
    this.id = id;
    this.room = room;
    this.#tokens = burst;
    this.#refilled = performance.now();
  }

  /** Takes one message's worth from the member's allowance (a token bucket). */
  allow(rate: number, burst: number): boolean {
    // By arrival time: a line that waited while the server was busy is not counted as
    // sent when it was read. Never before the last refill, so the bucket only moves on.
    const now = Math.max(this.arrivedAt ?? performance.now(), this.#refilled);
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilled) / 1000) * rate);
    this.#refilled = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Counts a refused line; true when there have been too many in a row. */
  strike(max: number): boolean {
    this.#strikes++;
    return this.#strikes >= max;
  }

  clearStrikes(): void {
    this.#strikes = 0;
  }
}

/** The members of this server in one room, and the room's history as they are shown it. */
class RoomHere {
  readonly name: string;
  /** Named members of this server in the room, by nickname key (`nickKey`: case, look-alikes and invisible characters folded). */
  readonly members = new Map<string, Member>();
  /** The last messages, stamped, as whoever joins is shown them. */
  readonly history: Buffer[] = [];
  /** Settled once the bus delivers the room's events (at once in the process). */
  opened: MaybePromise<void> = undefined;
  /** Members on their way in, waiting for it to open. */
  arriving = 0;

  constructor(name: string) {
    this.name = name;
  }
}

const CRLF = "\r\n";

/** Most nicknames `/who` and the welcome list; the rest are counted. */
const WHO_LIMIT = 200;

/** Most rooms `/rooms` lists. */
const ROOMS_LIMIT = 50;

const HELP = [
  "*** Commands:",
  "***   /nick NAME       change your nickname",
  "***   /who             who is in the room",
  "***   /me ACTION       say what you are doing (* alice waves)",
  "***   /msg NICK TEXT   a private message to someone in the room",
  "***   /join ROOM       go to another room (one at a time)",
  "***   /part            go back to the first room",
  "***   /rooms           the rooms that have someone in them",
  "***   /quit [REASON]   leave",
  "***   /help            this list",
  "*** Anything else is a message to everyone (start it with // to send a line beginning with /).",
];

/**
 * A chat server's members and the rules of its rooms: nicknames, history, commands and
 * limits, over links that carry bytes (a TCP connection, the operator's terminal). It does
 * no I/O itself: the server feeds it lines and it writes to links, so its rules can be
 * tested alone. What the rooms share (nicknames, rosters, the order of events, history)
 * goes through a {@link ChatBus}: in this process by default, or shared with other
 * servers.
 *
 * Every relayed line is `[HH:MM:SS] <nick> text`, with the text's control characters
 * shown rather than acting. Each message is encoded once and the same bytes are queued
 * for every member; a member whose queue is full is disconnected, so a member that stops
 * reading never slows the others.
 */
export class ChatRoom {
  /** The first room: every member starts there. */
  readonly name: string;
  /** Settled once the bus has started and the first room is open. */
  readonly ready: Promise<void>;
  readonly #bus: ChatBus;
  readonly #historySize: number;
  readonly #maxMembers: number;
  readonly #perHost: HostLimit;
  readonly #nickTimeout: number | null;
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxStrikes: number;
  readonly #quietAbove: number;
  readonly #maxPending: number;
  readonly #now: () => Date;
  readonly #log: (line: string) => void;
  /** Every connection, named or not, by its number. */
  readonly #all = new Map<number, Member>();
  /** Named members of this server by nickname key (`nickKey`: case, look-alikes and invisible characters folded), in whichever room. */
  readonly #byNick = new Map<string, Member>();
  /** The rooms that members of this server are in (the first one always). */
  readonly #rooms = new Map<string, RoomHere>();
  #nextId = 1;

  constructor(options: ChatRoomOptions = {}) {
    this.name = options.name ?? "lobby";
    this.#historySize = options.history ?? 20;
    this.#maxMembers = options.maxMembers ?? 10_000;
    this.#nickTimeout = options.nickTimeout === undefined ? 60 : options.nickTimeout;
    this.#rate = options.rate ?? 5;
    this.#burst = options.burst ?? 10;
    this.#maxStrikes = options.maxStrikes ?? 20;
    this.#quietAbove = options.quietAbove ?? 200;
    this.#maxPending = options.maxPending ?? 100;
    this.#now = options.now ?? (() => new Date());
    this.#log = options.log ?? (() => {});
    this.#perHost =
      options.hostLimit ?? new LocalHostLimit({ max: options.maxPerHost, log: this.#log });
    this.#bus = options.bus ?? new LocalChatBus({ history: this.#historySize });
    let started: () => void = () => {};
    let failed: (err: unknown) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    // Nothing waits on it when it fails: whoever starts the room does (`chatServe`).
    this.ready.catch(() => {});
    whenReady(
      this.#bus.start({
        deliver: (event) => this.#deliver(event),
        shared: (_shared, message) => this.#tellEveryone(message),
        renamed: (old, nick) => this.#renamedElsewhere(old, nick),
      }),
      () => {
        const first = this.#open(this.name);
        whenReady(first.opened, started, failed);
      },
      failed,
    );
  }

  /** Members with a nickname, on this server. */
  get size(): number {
    return this.#byNick.size;
  }

  /** The nicknames of this server's members, sorted. */
  nicks(): string[] {
    return [...this.#byNick.values()].map((m) => m.nick as string).sort();
  }

  /**
   * A new connection: the welcome, who is online, the history and the nickname prompt.
   * Returns null (and closes the link, after saying why) when the room is full or its
   * address has `maxPerHost` connections already; counted with other servers, the member
   * waits for the count, and is told and closed (`gone`) when it is over.
   */
  join(link: MemberLink): Member | null {
    if (this.#all.size >= this.#maxMembers) {
      link.send(Buffer.from(`error: the room is full (${this.#maxMembers} members)${CRLF}`));
      link.close(true);
      return null;
    }
    const group = link.host === undefined ? null : this.#perHost.take(link.host, link.address);
    if (link.host !== undefined && group === null) {
      this.#tooMany(link);
      return null;
    }
    const member = new Member(link, this.#burst, this.#nextId++, this.name);
    this.#all.set(member.id, member);
    const counted = this.#counted(member, group);
    const seconds = this.#nickTimeout;
    if (seconds !== null) {
      member.nickTimer = setTimeout(() => {
        if (member.gone || member.nick !== null) return;
        this.#send(member, Buffer.from(`error: no nickname chosen within ${seconds} s${CRLF}`));
        this.leave(member, "no nickname", true);
      }, seconds * 1000);
      member.nickTimer.unref();
    }
    const here = this.#rooms.get(this.name) as RoomHere;
    const roster = this.#bus.roster(this.name, WHO_LIMIT);
    const both = counted instanceof Promise ? Promise.all([counted, roster]) : null;
    this.#busyWhile(member, both === null ? roster : both.then(([, r]) => r), (roster) => {
      if (member.gone) return;
      const welcome = `*** Welcome to socketkit chat, room ${escapeControls(this.name)}.`;
      this.#send(
        member,
        Buffer.concat([
          Buffer.from(welcome + CRLF),
          this.#roomView(roster, here.history),
          Buffer.from("*** Choose a nickname: "),
        ]),
      );
    });
    return member;
  }

  /**
   * A line from a member (without its line end); `arrivedAt` (`performance.now()`) is when
   * its bytes came in, if known, for the rate limit: the server's own delay is not the member's.
   */
  line(member: Member, raw: Buffer, arrivedAt?: number): void {
    if (member.gone) return;
    if (member.busy) {
      if (member.pending.length < this.#maxPending) member.pending.push(raw);
      else this.#refuse(member, "too many lines at once, not sent");
      return;
    }
    member.arrivedAt = arrivedAt ?? null;
    try {
      this.#line(member, raw);
    } finally {
      member.arrivedAt = null;
    }
  }

  /** A line was over the length limit (the server dropped it): say so, and count it. */
  tooLong(member: Member, maxBytes: number): void {
    if (!member.gone) this.#refuse(member, `line longer than ${maxBytes} bytes, not sent`);
  }

  /**
   * A line was not finished within `seconds` of its first byte (a client dribbling bytes
   * holds its connection that way): say so, and disconnect the member.
   */
  tooSlow(member: Member, seconds: number): void {
    if (member.gone) return;
    this.#send(member, Buffer.from(`error: line not finished within ${seconds} s${CRLF}`));
    this.leave(member, "disconnected: a line took too long", true);
  }

  /** The member is gone (its connection ended, or it was disconnected); tells the others. */
  leave(member: Member, reason: string, flush = false): void {
    if (member.gone) return;
    member.gone = true;
    member.pending.length = 0;
    this.#all.delete(member.id);
    this.#forget(member);
    if (flush) this.#send(member, Buffer.from(`*** Bye.${CRLF}`));
    member.link.close(flush);
    if (member.nick === null) return;
    this.#byNick.delete(nickKey(member.nick));
    this.#log(`${member.nick} left (${reason}) from ${member.link.address}`);
    this.#part(member, reason);
    this.#bus.release(member.nick);
  }

  /**
   * Disconnects everyone (the server is stopping), after a last notice; the members of
   * other servers are told they left.
   */
  closeAll(reason: string): void {
    const notice = Buffer.from(`*** ${reason}${CRLF}`);
    const named: Member[] = [];
    for (const member of this.#all.values()) {
      member.link.send(notice);
      member.gone = true;
      this.#forget(member);
      member.link.close(true);
      if (member.nick !== null) named.push(member);
    }
    this.#all.clear();
    this.#byNick.clear();
    for (const here of this.#rooms.values()) here.members.clear();
    for (const member of named) {
      this.#publish(member, "leave", { text: "server stopped" }, this.#quietAbove);
      this.#bus.release(member.nick as string);
    }
  }

  /** Stops the bus: call after {@link closeAll}. */
  async stop(): Promise<void> {
    await Promise.all([this.#perHost.stop(), this.#bus.stop()]);
  }

  /**
   * The member counted for its address (`group`, or a count shared with other servers
   * that answers later): false when the shared count refuses it, and it is told so.
   */
  #counted(member: Member, group: MaybePromise<string | null>): MaybePromise<boolean> {
    if (!(group instanceof Promise)) {
      member.hostGroup = group;
      return true;
    }
    return group.then((taken) => {
      if (taken !== null && !member.gone) {
        member.hostGroup = taken;
        return true;
      }
      if (taken !== null) this.#perHost.give(taken);
      else if (!member.gone) {
        member.gone = true;
        this.#all.delete(member.id);
        this.#forget(member);
        this.#tooMany(member.link);
      }
      return false;
    });
  }

  /** A connection over `maxPerHost`: told so in one line, and closed. */
  #tooMany(link: MemberLink): void {
    const max = this.#perHost.max;
    link.send(Buffer.from(`error: too many connections from your address (at most ${max})${CRLF}`));
    link.close(true);
  }

  /** A member that has left: its address's count and its nickname deadline go. */
  #forget(member: Member): void {
    if (member.hostGroup !== null) this.#perHost.give(member.hostGroup);
    member.hostGroup = null;
    if (member.nickTimer !== null) clearTimeout(member.nickTimer);
    member.nickTimer = null;
  }

  #line(member: Member, raw: Buffer): void {
    const text = decodeLine(raw).trim();
    if (text === "") return;
    if (member.nick === null) {
      const nick = text.startsWith("/nick ") ? text.slice(6).trim() : text;
      if (text.startsWith("/") && !text.startsWith("/nick ")) {
        if (text === "/quit" || text.startsWith("/quit ")) {
          this.leave(member, "quit", true);
          return;
        }
        this.#refuse(member, "choose a nickname first: type it, or /nick NAME");
        return;
      }
      this.#setNick(member, nick);
      return;
    }
    if (text.startsWith("/") && !text.startsWith("//")) {
      this.#command(member, text);
      return;
    }
    if (!this.#allowed(member)) return;
    const body = text.startsWith("//") ? text.slice(1) : text;
    this.#publish(member, "say", { text: body });
  }

  /**
   * Runs `then` with the value, at once when it is there; otherwise the member's lines
   * wait until it is (so that they are taken in order), and a failure is told to it.
   */
  #busyWhile<T>(
    member: Member,
    value: MaybePromise<T>,
    then: (value: T) => void,
    failed?: () => void,
  ): void {
    if (!(value instanceof Promise)) {
      then(value);
      return;
    }
    member.busy = true;
    const done = () => {
      member.busy = false;
      while (!member.busy && !member.gone && member.pending.length > 0) {
        this.#line(member, member.pending.shift() as Buffer);
      }
    };
    value.then(
      (v) => {
        then(v);
        done();
      },
      (err: unknown) => {
        this.#log(`the shared state failed: ${err instanceof Error ? err.message : String(err)}`);
        if (!member.gone) this.#refuse(member, "the shared room cannot be reached, try again");
        failed?.();
        done();
      },
    );
  }

  #setNick(member: Member, wanted: string): void {
    const nick = wanted.normalize("NFC");
    const problem = nickProblem(nick);
    // Choosing a first nickname, the refusal asks again, on the same line; a member who
    // has one keeps it and gets a whole line (its client's prompt comes back below it).
    const renaming = member.nick !== null;
    const taken = () => {
      if (renaming)
        this.#refuse(member, `the nickname ${nick} is taken; you are still ${member.nick}`);
      else this.#refuse(member, `the nickname ${nick} is taken; choose another: `, "");
    };
    if (problem !== null) {
      if (renaming) this.#refuse(member, `${problem}; you are still ${member.nick}`);
      else this.#refuse(member, `${problem}; choose a nickname: `, "");
      return;
    }
    const holder = this.#byNick.get(nickKey(nick));
    if (holder !== undefined && holder !== member) {
      taken();
      return;
    }
    if (holder === member) {
      // The same nickname in another case: it is the member's already.
      this.#named(member, nick);
      return;
    }
    this.#busyWhile(member, this.#bus.claim(nick), (ok) => {
      if (member.gone || this.#byNick.has(nickKey(nick))) {
        if (ok) this.#bus.release(nick);
        if (!member.gone) taken();
        return;
      }
      if (!ok) taken();
      else this.#named(member, nick);
    });
  }

  /** The member has `nick` (claimed): announce it, or the rename. */
  #named(member: Member, nick: string): void {
    const old = member.nick;
    const here = this.#rooms.get(member.room) as RoomHere;
    if (old !== null) {
      this.#byNick.delete(nickKey(old));
      here.members.delete(nickKey(old));
    }
    member.nick = nick;
    this.#byNick.set(nickKey(nick), member);
    here.members.set(nickKey(nick), member);
    if (old === null) {
      if (member.nickTimer !== null) clearTimeout(member.nickTimer);
      member.nickTimer = null;
      member.clearStrikes();
      this.#log(`${nick} joined from ${member.link.address}`);
      this.#send(member, Buffer.from(`*** You are ${nick}. Type a message, or /help.${CRLF}`));
      this.#publish(member, "join", {}, this.#quietAbove + 1);
    } else if (old !== nick) {
      // A rename goes to every member as a join does, so it keeps quiet in a big room as
      // joins do; the member itself is always told (`chat join` learns its name from it).
      const event = this.#event(member, "rename", { nick: old, text: nick });
      whenReady(
        this.#bus.publish(event, this.#quietAbove + 1),
        (announced) => {
          if (!announced) this.#send(member, this.#stamp(`*** ${old} is now known as ${nick}`));
        },
        () => {},
      );
      if (nickKey(old) !== nickKey(nick)) this.#bus.release(old);
    }
  }

  /** Its nickname was taken elsewhere while the shared state was out of reach. */
  #renamedElsewhere(old: string, nick: string): void {
    const member = this.#byNick.get(nickKey(old));
    if (member === undefined) return;
    const here = this.#rooms.get(member.room);
    this.#byNick.delete(nickKey(old));
    member.nick = nick;
    this.#byNick.set(nickKey(nick), member);
    if (here?.members.delete(nickKey(old))) here.members.set(nickKey(nick), member);
    this.#send(
      member,
      Buffer.from(`*** Someone took ${old} while this server was away: you are ${nick}.${CRLF}`),
    );
  }

  #command(member: Member, text: string): void {
    const space = text.indexOf(" ");
    const name = (space === -1 ? text : text.slice(0, space)).toLowerCase();
    const arg = space === -1 ? "" : text.slice(space + 1).trim();
    switch (name) {
      case "/nick":
        if (arg === "") {
          this.#refuse(member, "usage: /nick NAME");
          return;
        }
        // A rename is announced to everyone, as a message is: it takes from the same
        // allowance, and, not being a message, does not clear the refused lines.
        if (!this.#allowed(member, false)) return;
        this.#setNick(member, arg);
        return;
      case "/who":
        member.clearStrikes();
        this.#busyWhile(member, this.#bus.roster(member.room, WHO_LIMIT), (roster) => {
          this.#send(member, Buffer.from(whoLine(roster) + CRLF));
        });
        return;
      case "/me":
        if (arg === "") {
          this.#refuse(member, "usage: /me ACTION");
          return;
        }
        if (!this.#allowed(member)) return;
        this.#publish(member, "me", { text: arg });
        return;
      case "/msg":
        this.#private(member, arg);
        return;
      case "/join":
        this.#join(member, arg);
        return;
      case "/part":
        if (member.room === this.name) {
          this.#refuse(
            member,
            `you are in ${escapeControls(this.name)}, the first room (/join ROOM to go elsewhere)`,
          );
          return;
        }
        this.#join(member, this.name);
        return;
      case "/rooms":
        member.clearStrikes();
        this.#busyWhile(member, this.#bus.rooms(ROOMS_LIMIT), (rooms) => {
          const list = rooms.map((r) => `${escapeControls(r.name)} (${r.members})`);
          this.#send(member, Buffer.from(`*** Rooms (${rooms.length}): ${list.join(", ")}${CRLF}`));
        });
        return;
      case "/help":
        member.clearStrikes();
        this.#send(member, Buffer.from(HELP.join(CRLF) + CRLF));
        return;
      case "/quit":
        this.leave(member, arg === "" ? "quit" : `quit: ${escapeControls(arg)}`, true);
        return;
      default:
        this.#refuse(member, `unknown command ${escapeControls(name)} (try /help)`);
        return;
    }
  }

  #private(member: Member, arg: string): void {
    const cut = arg.indexOf(" ");
    if (cut === -1) {
      this.#refuse(member, "usage: /msg NICK TEXT");
      return;
    }
    const to = arg.slice(0, cut);
    const noOne = () => this.#refuse(member, `no one called ${escapeControls(to)} is online`);
    // In the process, the room's members are all here: no need to ask the bus.
    const here = this.#rooms.get(member.room) as RoomHere;
    if (!this.#bus.shared && !here.members.has(nickKey(to))) {
      noOne();
      return;
    }
    if (!this.#allowed(member)) return;
    const event = this.#event(member, "private", { text: arg.slice(cut + 1).trim(), to });
    whenReady(
      this.#bus.publish(event),
      (found) => {
        if (!found && !member.gone) noOne();
      },
      (err: unknown) => {
        if (member.gone) return;
        const code = (err as { code?: unknown } | null)?.code;
        if (code === "ERR_CHAT_APART") {
          const whom = escapeControls(to);
          this.#refuse(
            member,
            `${whom} is not on this server, and the other servers cannot be reached: not sent`,
          );
        } else this.#refuse(member, refusal(err));
      },
    );
  }

  /** `/join ROOM`: the member leaves its room for `name` and is shown who and the history. */
  #join(member: Member, wanted: string): void {
    const name = wanted.normalize("NFC");
    const problem = roomProblem(name);
    if (problem !== null) {
      this.#refuse(member, problem);
      return;
    }
    if (name === member.room) {
      this.#refuse(member, `you are in ${escapeControls(name)} already`);
      return;
    }
    if (!this.#allowed(member, false)) return;
    this.#part(member, `gone to ${name}`);
    const here = this.#open(name);
    member.room = name;
    here.arriving++;
    this.#busyWhile(
      member,
      here.opened,
      () => {
        here.arriving--;
        if (member.gone) this.#closeIfEmpty(here);
        else this.#arrive(member, here);
      },
      () => {
        // The room could not be opened: back to the first one, which is always open.
        here.arriving--;
        this.#closeIfEmpty(here);
        member.room = this.name;
        if (!member.gone) this.#arrive(member, this.#rooms.get(this.name) as RoomHere);
      },
    );
  }

  /** The member is in the room `here` (open): the others are told, and it is shown the room. */
  #arrive(member: Member, here: RoomHere): void {
    here.members.set(nickKey(member.nick as string), member);
    this.#publish(member, "join", {}, this.#quietAbove + 1);
    this.#busyWhile(member, this.#bus.roster(here.name, WHO_LIMIT), (roster) => {
      const lines = Buffer.from(`*** You are in room ${escapeControls(here.name)}.${CRLF}`);
      this.#send(member, Buffer.concat([lines, this.#roomView(roster, here.history)]));
    });
  }

  /** The member leaves its room (for another, or for good): the others are told. */
  #part(member: Member, reason: string): void {
    const here = this.#rooms.get(member.room);
    if (here === undefined || !here.members.delete(nickKey(member.nick as string))) return;
    this.#publish(member, "leave", { text: reason }, this.#quietAbove);
    this.#closeIfEmpty(here);
  }

  /** A room other than the first that no member of this server is in, or on the way to. */
  #closeIfEmpty(here: RoomHere): void {
    if (here.members.size > 0 || here.arriving > 0 || here.name === this.name) return;
    if (this.#rooms.get(here.name) === here) this.#rooms.delete(here.name);
    this.#bus.close(here.name);
  }

  /** The room `name` as this server has it, opened on the bus if it was not. */
  #open(name: string): RoomHere {
    let here = this.#rooms.get(name);
    if (here !== undefined) return here;
    const room = new RoomHere(name);
    here = room;
    this.#rooms.set(name, room);
    const history = this.#bus.open(name, this.#historySize);
    const keep = (events: ChatEvent[]) => {
      const lines = events.map((e) => this.#render(e)).filter((b) => b !== null);
      room.history.unshift(...lines);
      room.history.splice(0, Math.max(0, room.history.length - this.#historySize));
    };
    if (history instanceof Promise) {
      room.opened = history.then(keep, (err: unknown) => {
        // A later /join asks again.
        if (this.#rooms.get(name) === room) this.#rooms.delete(name);
        throw err;
      });
    } else keep(history);
    return room;
  }

  /** An event of a room, in the room's order: shown to this server's members in it. */
  #deliver(event: ChatEvent): void {
    const here = this.#rooms.get(event.room);
    if (here === undefined) return;
    const own = event.server === this.#bus.server;
    const from = own ? this.#all.get(event.member) : undefined;
    switch (event.kind) {
      case "say":
      case "me": {
        const data = this.#render(event) as Buffer;
        if (this.#historySize > 0) {
          here.history.push(data);
          if (here.history.length > this.#historySize) here.history.shift();
        }
        this.#broadcast(here, from ?? null, data);
        return;
      }
      case "private": {
        const nick = escapeControls(event.nick);
        const body = escapeControls(event.text ?? "");
        const to = here.members.get(nickKey(event.to ?? ""));
        if (to !== undefined) this.#send(to, this.#stamp(`(private) <${nick}> ${body}`, event));
        if (from !== undefined && from !== to && !from.gone) {
          const whom = escapeControls(event.to ?? "");
          this.#send(from, this.#stamp(`(private to ${whom}) <${nick}> ${body}`, event));
        }
        return;
      }
      case "join":
        // A member of this server put back in the roster after Redis was lost: the others
        // here never saw it leave.
        if (own && event.text === "back") return;
        this.#broadcast(
          here,
          from ?? null,
          this.#stamp(`*** ${escapeControls(event.nick)} joined`, event),
        );
        return;
      case "leave":
        // This server's members, taken for lost while it was out of reach, are still here.
        if (own && event.member < 0) return;
        this.#broadcast(
          here,
          null,
          this.#stamp(
            `*** ${escapeControls(event.nick)} left (${escapeControls(event.text ?? "")})`,
            event,
          ),
        );
        return;
      case "rename":
        this.#broadcast(
          here,
          null,
          this.#stamp(
            `*** ${escapeControls(event.nick)} is now known as ${escapeControls(event.text ?? "")}`,
            event,
          ),
        );
        return;
    }
  }

  /** A message or action as it is shown (null for other events). */
  #render(event: ChatEvent): Buffer | null {
    const nick = escapeControls(event.nick);
    const text = escapeControls(event.text ?? "");
    if (event.kind === "say") return this.#stamp(`<${nick}> ${text}`, event);
    if (event.kind === "me") return this.#stamp(`* ${nick} ${text}`, event);
    return null;
  }

  #event(
    member: Member,
    kind: ChatEventKind,
    fields: { nick?: string; text?: string; to?: string },
  ): ChatEvent {
    return {
      kind,
      room: member.room,
      nick: fields.nick ?? (member.nick as string),
      server: this.#bus.server,
      member: member.id,
      time: this.#now().getTime(),
      ...(fields.text === undefined ? {} : { text: fields.text }),
      ...(fields.to === undefined ? {} : { to: fields.to }),
    };
  }

  #publish(
    member: Member,
    kind: ChatEventKind,
    fields: { text?: string },
    quietBelow?: number,
  ): void {
    const done = this.#bus.publish(this.#event(member, kind, fields), quietBelow);
    if (done instanceof Promise) {
      done.catch((err: unknown) => {
        this.#log(`an event was not shared: ${err instanceof Error ? err.message : String(err)}`);
        if (!member.gone && (kind === "say" || kind === "me")) this.#refuse(member, refusal(err));
      });
    }
  }

  /** A line to every member of this server (the shared state was lost, or is back). */
  #tellEveryone(message: string): void {
    const data = Buffer.from(`*** ${message}${CRLF}`);
    for (const here of this.#rooms.values()) this.#broadcast(here, null, data);
  }

  /**
   * Takes one message from the member's allowance (flood control), or refuses the line.
   * A line let through ends a run of refused ones (`clears`), unless it is not a message.
   */
  #allowed(member: Member, clears = true): boolean {
    if (!member.allow(this.#rate, this.#burst)) {
      this.#refuse(member, `too many messages: at most ${this.#rate} a second, slow down`);
      return false;
    }
    if (clears) member.clearStrikes();
    return true;
  }

  /** Queues `data` for every named member of the room but `except`; disconnects those that are full. */
  #broadcast(here: RoomHere, except: Member | null, data: Buffer): void {
    let full: Member[] | null = null;
    for (const member of here.members.values()) {
      if (member === except) continue;
      if (!member.link.send(data)) {
        full ??= [];
        full.push(member);
      }
    }
    if (full !== null) for (const member of full) this.#slow(member);
  }

  #send(member: Member, data: Buffer): void {
    if (!member.link.send(data)) this.#slow(member);
  }

  /** Redis's rule for a client that does not read what it is sent: disconnect it. */
  #slow(member: Member): void {
    if (member.gone) return;
    this.leave(member, "disconnected: not reading");
  }

  /** An error line to the member; too many in a row and it is disconnected. */
  #refuse(member: Member, message: string, end = CRLF): void {
    this.#send(member, Buffer.from(`error: ${message}${end}`));
    if (member.strike(this.#maxStrikes) && !member.gone) {
      this.#send(member, Buffer.from(`error: too many refused lines, disconnecting${CRLF}`));
      this.leave(member, "disconnected: too many refused lines", true);
    }
  }

  /** Who is in the room and its last messages, as a member arriving in it is shown. */
  #roomView(roster: Roster, history: Buffer[]): Buffer {
    const lines = [whoLine(roster)];
    if (history.length > 0) {
      lines.push(
        history.length === 1 ? "*** The last message:" : `*** The last ${history.length} messages:`,
      );
    }
    return Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF), ...history]);
  }

  /** The line with its time (the event's, when it has one), and `(late)` when it is. */
  #stamp(line: string, event?: ChatEvent): Buffer {
    const when = event === undefined ? this.#now() : new Date(event.time);
    const late = event?.late === true ? "(late) " : "";
    return Buffer.from(`[${clock(when)}] ${late}${line}${CRLF}`);
  }
}

/** What a member is told when the bus did not take its line. */
function refusal(err: unknown): string {
  if ((err as { code?: unknown } | null)?.code === "ERR_CHAT_BACKLOG") {
    return "too many lines wait for the other servers to be back: not sent";
  }
  return "the shared room cannot be reached: not sent";
}

/** `*** Online (N): a, b, ...`, the names past those listed counted. */
function whoLine(roster: Roster): string {
  if (roster.count === 0) return "*** No one else is here yet.";
  const names = roster.nicks.map(escapeControls).join(", ");
  const more = roster.count - roster.nicks.length;
  return `*** Online (${roster.count}): ${names}${more > 0 ? `, and ${more} more` : ""}`;
}
