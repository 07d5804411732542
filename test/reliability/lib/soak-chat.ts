/**
 * The soak's chat rounds against `socketkit chat serve`: a few members join (some through
 * the fault proxy, some directly), each sends a few lines at a pace the room's flood
 * control allows, each waits for the others' lines, then all quit. Between two members
 * that no disruptive fault touched, every line must arrive, whole and in order; under
 * faults lines may be lost or cut, but never changed.
 * @module
 */
import { connect, type Socket } from "node:net";
import type { FaultRoute } from "./fault-route.ts";
import type { SeededRandom } from "./seeded-random.ts";
import type { Target } from "./soak-echo.ts";
import type { SoakTally } from "./soak-tally.ts";

/** A relayed message: `[HH:MM:SS] <nick> text`. */
const MESSAGE = /^\[\d\d:\d\d:\d\d\] <([^>]+)> (.*)$/;
/** Longest partial line kept (the room's lines are far shorter). */
const MAX_PARTIAL = 64 * 1024;

/** One member's connection and what it received from the other members of its round. */
class ChatMember {
  readonly nick: string;
  readonly viaProxy: boolean;
  readonly socket: Socket;
  /** Lines it sent, in order. */
  readonly sent: string[] = [];
  /** Messages received from each member of the round, in order. */
  readonly got = new Map<string, string[]>();
  /** `error:` lines the server sent it (first few). */
  readonly errors: string[] = [];
  joined = false;
  /** Why it failed (join, send, wait or quit), or null. */
  failure: string | null = null;
  #partial = "";
  #closed = false;
  #bye = false;
  #check: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(nick: string, target: Target, roundNicks: ReadonlySet<string>) {
    this.nick = nick;
    this.viaProxy = target.route !== null;
    for (const other of roundNicks) if (other !== nick) this.got.set(other, []);
    this.socket = connect({ host: "127.0.0.1", port: target.port });
    this.socket.setNoDelay(true);
    this.socket.setEncoding("utf8");
    this.socket.on("data", (text: string) => this.#onData(text));
    this.socket.on("error", (err: NodeJS.ErrnoException) => {
      this.failure ??= err.code ?? err.message;
    });
    this.socket.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Reads the welcome, gives its nickname, and waits until the room has taken it. */
  async join(idleMs: number): Promise<void> {
    await this.until(() => this.#partial.endsWith("Choose a nickname: "), "the prompt", idleMs);
    this.socket.write(`${this.nick}\n`);
    await this.until(() => this.joined, "the nickname's confirmation", idleMs);
  }

  say(text: string): void {
    this.sent.push(text);
    this.socket.write(`${text}\n`);
  }

  /** Whether every line of every member in `from` has arrived. */
  hasAllFrom(from: readonly ChatMember[]): boolean {
    for (const other of from) {
      if (other === this) continue;
      if ((this.got.get(other.nick)?.length ?? 0) < other.sent.length) return false;
    }
    return true;
  }

  /** Says `/quit` and waits until the server closes the connection. */
  async quit(idleMs: number): Promise<void> {
    if (this.#closed) throw new Error(`closed (${this.failure ?? "by the peer"}) before /quit`);
    this.socket.end("/quit\n");
    await this.until(() => this.#closed, "the server's close after /quit", idleMs);
    if (!this.#bye) throw new Error(`closed (${this.failure ?? "by the peer"}) without "*** Bye."`);
  }

  /** Waits until `done()` holds; fails when the connection closes first or stays silent. */
  until(done: () => boolean, what: string, idleMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const stop = () => {
        this.#check = null;
        if (this.#timer !== null) clearTimeout(this.#timer);
        this.#timer = null;
      };
      const check = () => {
        if (done()) {
          stop();
          resolve();
        } else if (this.#closed) {
          stop();
          reject(new Error(`closed (${this.failure ?? "by the peer"}) waiting for ${what}`));
        }
      };
      this.#check = check;
      this.#timer = setTimeout(() => {
        stop();
        reject(new Error(`nothing for ${idleMs} ms waiting for ${what}`));
      }, idleMs);
      check();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    this.#timer?.refresh();
    this.#check?.();
  }

  #onData(text: string): void {
    const lines = (this.#partial + text).split("\n");
    this.#partial = (lines.pop() as string).slice(-MAX_PARTIAL);
    for (const raw of lines) this.#onLine(raw.endsWith("\r") ? raw.slice(0, -1) : raw);
    this.#wake();
  }

  #onLine(line: string): void {
    const m = MESSAGE.exec(line);
    if (m !== null) {
      this.got.get(m[1] as string)?.push(m[2] as string);
      return;
    }
    if (line.includes(`*** You are ${this.nick}.`)) this.joined = true;
    else if (line === "*** Bye.") this.#bye = true;
    else if (line.includes("error: ")) {
      if (this.errors.length < 5) this.errors.push(line);
    }
  }
}

/** What a round needs from the soak. */
export interface ChatRoundOptions {
  /** The chat server itself (direct members connect here). */
  serverPort: number;
  /** The chat route (proxied members connect to its first proxy). */
  route: FaultRoute;
  /** Share of members that connect directly. */
  directShare: number;
  /** A member that hears nothing for this long gives up waiting. */
  idleMs: number;
}

/** Whether `got` is `sent` with some lines left out (order kept, no line changed). */
function isSubsequence(got: readonly string[], sent: readonly string[]): boolean {
  let i = 0;
  for (const line of got) {
    while (i < sent.length && sent[i] !== line) i++;
    if (i === sent.length) return false;
    i++;
  }
  return true;
}

let rounds = 0;

/**
 * One round: 2 to 4 members join, each sends 2 to 5 lines (220 to 400 ms apart: under the
 * room's 5 a second), waits for the others' lines, and quits. Counts what it did in
 * `tally`, and every failure as expected (a disruptive fault was on the route of one of
 * the two members) or not.
 */
export async function chatRound(
  options: ChatRoundOptions,
  random: SeededRandom,
  tally: SoakTally,
): Promise<void> {
  const round = ++rounds;
  const size = random.int(2, 5);
  const nicks = Array.from({ length: size }, (_, i) => `r${round}m${i}`);
  const roundNicks = new Set(nicks);
  const proxyPort = options.route.proxies()[0]?.port as number;
  const mark = options.route.mark();
  const members = nicks.map((nick) => {
    const direct = random.chance(options.directShare);
    const target: Target = direct
      ? { port: options.serverPort, route: null }
      : { port: proxyPort, route: options.route };
    return new ChatMember(nick, target, roundNicks);
  });
  const plans = members.map(() =>
    Array.from({ length: random.int(2, 6) }, () => ({
      gap: random.int(220, 400),
      word: random.int(0, 2 ** 31).toString(36),
    })),
  );
  const step = async (member: ChatMember, what: string, run: () => Promise<void>) => {
    if (member.failure !== null) return;
    try {
      await run();
    } catch (err) {
      member.failure = `${what}: ${(err as Error).message}`;
    }
  };
  try {
    await Promise.all(members.map((m) => step(m, "join", () => m.join(options.idleMs))));
    const present = members.filter((m) => m.joined && m.failure === null);
    await Promise.all(
      present.map((m, i) =>
        step(m, "send", async () => {
          const plan = plans[members.indexOf(m)] ?? [];
          for (const [k, { gap, word }] of plan.entries()) {
            await new Promise((resolve) => setTimeout(resolve, gap));
            if (m.closed) throw new Error("closed while sending");
            m.say(`line ${k} from ${m.nick} ${word} ${i}`);
          }
        }),
      ),
    );
    // A member that waits in vain has not failed by itself: what it missed is judged
    // below, against the faults on its route and on the sender's.
    await Promise.all(
      present.map((m) =>
        m.until(() => m.hasAllFrom(present), "the others' lines", options.idleMs).catch(() => {}),
      ),
    );
    await Promise.all(present.map((m) => step(m, "quit", () => m.quit(options.idleMs))));
  } finally {
    for (const m of members) m.destroy();
  }
  judge(members, options.route.hit(mark), tally);
}

/** Counts the round's deliveries and failures, each as expected or not. */
function judge(members: readonly ChatMember[], routeHit: boolean, tally: SoakTally): void {
  const faulted = (m: ChatMember) => m.viaProxy && routeHit;
  tally.count("chat rounds");
  for (const m of members) {
    tally.count(m.viaProxy ? "chat members" : "chat members direct");
    tally.count("chat lines sent", m.sent.length);
    const who = `chat member ${m.nick}${m.viaProxy ? "" : " (direct)"}`;
    if (m.failure !== null) {
      if (faulted(m)) tally.expected("chat", m.failure.replace(/ r\d+m\d+/g, " NICK"));
      else tally.unexpected(who, `${m.failure} with no disruptive fault on its route`);
    }
    if (m.errors.length > 0 && !faulted(m)) {
      tally.unexpected(who, `the server refused its lines: ${m.errors.join(" | ")}`);
    }
    for (const s of members) {
      if (s === m) continue;
      const got = m.got.get(s.nick) ?? [];
      const bothClean = !faulted(m) && !faulted(s) && m.failure === null && s.failure === null;
      if (bothClean) {
        if (got.length === s.sent.length && got.every((line, i) => line === s.sent[i])) {
          tally.count("chat deliveries verified", got.length);
        } else {
          tally.unexpected(
            who,
            `from ${s.nick}: ${got.length} of ${s.sent.length} lines, or not as sent (${JSON.stringify(got.slice(0, 3))})`,
          );
        }
        continue;
      }
      // Under faults lines may be lost; a sender's line cut by a fault may arrive cut
      // (the room takes a partial line when its sender pauses or leaves); none may change.
      const intact = faulted(s)
        ? got.every((line) => s.sent.some((sent) => line.length > 0 && sent.includes(line)))
        : isSubsequence(got, s.sent);
      if (!intact) {
        tally.unexpected(who, `from ${s.nick}: lines that were never sent: ${got.join(" | ")}`);
      } else if (got.length < s.sent.length) {
        tally.expected("chat", "lines lost on a faulted route");
        tally.count("chat deliveries lost under faults", s.sent.length - got.length);
      } else tally.count("chat deliveries verified", got.length);
    }
  }
}
