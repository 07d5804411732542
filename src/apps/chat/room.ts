import { clock, decodeLine, escapeControls, nickProblem } from "./text.ts";

/** Options of {@link ChatRoom}. */
export interface ChatRoomOptions {
  /** The room's name, shown in the welcome. @default "lobby" */
  name?: string;
  /** Messages kept and shown to whoever joins. @default 20 */
  history?: number;
  /** Most members at once; more are told the room is full. @default 10000 */
  maxMembers?: number;
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
}

/** The way out to one member: its bounded outgoing queue, and closing it. */
export interface MemberLink {
  /** Queues bytes for the member; false when its queue is full (it is not reading). */
  send(data: Buffer): boolean;
  /** Ends the member's connection: after what is queued (`flush`) or at once. */
  close(flush: boolean): void;
  /** The member's address, for the log. */
  readonly address: string;
}

/** One connection in the room, with or without a nickname yet. */
export class Member {
  readonly link: MemberLink;
  nick: string | null = null;
  /** Set once the member has left; lines after it are ignored. */
  gone = false;
  #tokens: number;
  #refilled: number;
  #strikes = 0;

  constructor(link: MemberLink, burst: number) {
    this.link = link;
    this.#tokens = burst;
    this.#refilled = performance.now();
  }

  /** Takes one message's worth from the member's allowance (a token bucket). */
  allow(rate: number, burst: number): boolean {
    const now = performance.now();
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

const CRLF = "\r\n";

const HELP = [
  "*** Commands:",
  "***   /nick NAME       change your nickname",
  "***   /who             who is online",
  "***   /me ACTION       say what you are doing (* alice waves)",
  "***   /msg NICK TEXT   a private message",
  "***   /quit [REASON]   leave",
  "***   /help            this list",
  "*** Anything else is a message to everyone (start it with // to send a line beginning with /).",
];

/**
 * A chat room: members, nicknames, history, commands and limits, over links that carry
 * bytes (a TCP connection, the operator's terminal). It does no I/O itself: the server
 * feeds it lines and it writes to links, so its rules can be tested alone.
 *
 * Every relayed line is `[HH:MM:SS] <nick> text`, with the text's control characters
 * shown rather than acting. Each message is encoded once and the same bytes are queued
 * for every member; a member whose queue is full is disconnected, so a member that stops
 * reading never slows the others.
 */
export class ChatRoom {
  readonly name: string;
  readonly #historySize: number;
  readonly #history: Buffer[] = [];
  readonly #maxMembers: number;
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxStrikes: number;
  readonly #quietAbove: number;
  readonly #now: () => Date;
  readonly #log: (line: string) => void;
  /** Every connection, named or not. */
  readonly #all = new Set<Member>();
  /** Named members by lower-cased nickname. */
  readonly #byNick = new Map<string, Member>();

  constructor(options: ChatRoomOptions = {}) {
    this.name = options.name ?? "lobby";
    this.#historySize = options.history ?? 20;
    this.#maxMembers = options.maxMembers ?? 10_000;
    this.#rate = options.rate ?? 5;
    this.#burst = options.burst ?? 10;
    this.#maxStrikes = options.maxStrikes ?? 20;
    this.#quietAbove = options.quietAbove ?? 200;
    this.#now = options.now ?? (() => new Date());
    this.#log = options.log ?? (() => {});
  }

  /** Members with a nickname. */
  get size(): number {
    return this.#byNick.size;
  }

  /** The nicknames online, sorted. */
  nicks(): string[] {
    return [...this.#byNick.values()].map((m) => m.nick as string).sort();
  }

  /**
   * A new connection: the welcome, who is online, the history and the nickname prompt.
   * Returns null (and closes the link, after saying why) when the room is full.
   */
  join(link: MemberLink): Member | null {
    if (this.#all.size >= this.#maxMembers) {
      link.send(Buffer.from(`error: the room is full (${this.#maxMembers} members)${CRLF}`));
      link.close(true);
      return null;
    }
    const member = new Member(link, this.#burst);
    this.#all.add(member);
    const lines = [`*** Welcome to socketkit chat, room ${this.name}.`, this.#whoLine()];
    if (this.#history.length > 0) {
      lines.push(
        this.#history.length === 1
          ? "*** The last message:"
          : `*** The last ${this.#history.length} messages:`,
      );
    }
    const history = Buffer.concat(this.#history);
    this.#send(
      member,
      Buffer.concat([
        Buffer.from(lines.join(CRLF) + CRLF),
        history,
        Buffer.from("*** Choose a nickname: "),
      ]),
    );
    return member;
  }

  /** A line from a member (without its line end). */
  line(member: Member, raw: Buffer): void {
    if (member.gone) return;
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
    this.#relay(member, `<${member.nick}> ${escapeControls(body)}`);
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
    this.#all.delete(member);
    if (flush) this.#send(member, Buffer.from(`*** Bye.${CRLF}`));
    member.link.close(flush);
    if (member.nick === null) return;
    this.#byNick.delete(member.nick.toLowerCase());
    this.#log(`${member.nick} left (${reason}) from ${member.link.address}`);
    if (this.#byNick.size < this.#quietAbove) {
      this.#broadcast(null, this.#stamp(`*** ${member.nick} left (${reason})`));
    }
  }

  /** Disconnects everyone (the server is stopping), after a last notice. */
  closeAll(reason: string): void {
    const notice = Buffer.from(`*** ${reason}${CRLF}`);
    for (const member of [...this.#all]) {
      member.link.send(notice);
      member.gone = true;
      member.link.close(true);
    }
    this.#all.clear();
    this.#byNick.clear();
  }

  #setNick(member: Member, wanted: string): void {
    const nick = wanted.normalize("NFC");
    const problem = nickProblem(nick);
    // Choosing a first nickname, the refusal asks again, on the same line; a member who
    // has one keeps it and gets a whole line (its client's prompt comes back below it).
    const renaming = member.nick !== null;
    if (problem !== null) {
      if (renaming) this.#refuse(member, `${problem}; you are still ${member.nick}`);
      else this.#refuse(member, `${problem}; choose a nickname: `, "");
      return;
    }
    const holder = this.#byNick.get(nick.toLowerCase());
    if (holder !== undefined && holder !== member) {
      if (renaming)
        this.#refuse(member, `the nickname ${nick} is taken; you are still ${member.nick}`);
      else this.#refuse(member, `the nickname ${nick} is taken; choose another: `, "");
      return;
    }
    const old = member.nick;
    if (old !== null) this.#byNick.delete(old.toLowerCase());
    member.nick = nick;
    this.#byNick.set(nick.toLowerCase(), member);
    if (old === null) {
      member.clearStrikes();
      this.#log(`${nick} joined from ${member.link.address}`);
      this.#send(member, Buffer.from(`*** You are ${nick}. Type a message, or /help.${CRLF}`));
      if (this.#byNick.size <= this.#quietAbove) {
        this.#broadcast(member, this.#stamp(`*** ${nick} joined`));
      }
    } else if (old !== nick) {
      // A rename goes to every member as a join does, so it keeps quiet in a big room as
      // joins do; the member itself is always told (`chat join` learns its name from it).
      const notice = this.#stamp(`*** ${old} is now known as ${nick}`);
      if (this.#byNick.size <= this.#quietAbove) this.#broadcast(null, notice);
      else this.#send(member, notice);
    }
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
        this.#send(member, Buffer.from(this.#whoLine() + CRLF));
        return;
      case "/me":
        if (arg === "") {
          this.#refuse(member, "usage: /me ACTION");
          return;
        }
        if (!this.#allowed(member)) return;
        this.#relay(member, `* ${member.nick} ${escapeControls(arg)}`);
        return;
      case "/msg": {
        const cut = arg.indexOf(" ");
        if (cut === -1) {
          this.#refuse(member, "usage: /msg NICK TEXT");
          return;
        }
        const to = this.#byNick.get(arg.slice(0, cut).toLowerCase());
        if (to === undefined) {
          this.#refuse(member, `no one called ${escapeControls(arg.slice(0, cut))} is online`);
          return;
        }
        if (!this.#allowed(member)) return;
        const body = escapeControls(arg.slice(cut + 1).trim());
        this.#send(to, this.#stamp(`(private) <${member.nick}> ${body}`));
        if (to !== member)
          this.#send(member, this.#stamp(`(private to ${to.nick}) <${member.nick}> ${body}`));
        return;
      }
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

  /** A message or action from `from`: stamped, kept in the history, sent to the others. */
  #relay(from: Member, line: string): void {
    const data = this.#stamp(line);
    this.#history.push(data);
    if (this.#history.length > this.#historySize) this.#history.shift();
    this.#broadcast(from, data);
  }

  /** Queues `data` for every named member but `except`; disconnects those that are full. */
  #broadcast(except: Member | null, data: Buffer): void {
    let full: Member[] | null = null;
    for (const member of this.#byNick.values()) {
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

  #whoLine(): string {
    const nicks = this.nicks();
    return nicks.length === 0
      ? "*** No one else is here yet."
      : `*** Online (${nicks.length}): ${nicks.join(", ")}`;
  }

  #stamp(line: string): Buffer {
    return Buffer.from(`[${clock(this.#now())}] ${line}${CRLF}`);
  }
}
