import { isIP } from "node:net";
import { ArgumentError } from "../../core/errors.ts";

/** Options of {@link HandshakePool}. */
export interface HandshakePoolOptions {
  /**
   * Handshakes run side by side at most; a connection that comes when they are all
   * taken drops the oldest handshake of the host that has the most. @default 32
   */
  maxHandshakes?: number;
  /** Milliseconds a host is refused after its first failed secret. @default 1000 */
  firstBackoffMs?: number;
  /** The longest refusal, however many secrets failed in a row. @default 60000 */
  maxBackoffMs?: number;
  /**
   * Hosts whose failed secrets are remembered at most; past it the least recent is
   * forgotten. @default 4096
   */
  rememberHosts?: number;
  /** The clock, in milliseconds. @default performance.now */
  now?: () => number;
}

/** How a handshake of the pool ended. */
export type HandshakeOutcome =
  /** It passed: its host's failed secrets are forgotten. */
  | "passed"
  /** The peer's secret did not match: its host is refused for a while. */
  | "bad-secret"
  /** Anything else (not a transfer peer, silent, gone, dropped from the pool). */
  | "failed";

/** A handshake in a {@link HandshakePool}. */
export interface PoolEntry<T> {
  /** What the caller gave (the connection). */
  readonly value: T;
  /** The peer's host as the pool counts it: an IPv6 host stands for its /64. */
  readonly host: string;
  /** True once it was dropped from the pool to make room for a newer connection. */
  readonly dropped: boolean;
}

/** What {@link HandshakePool.admit} decided about a new connection. */
export type Admission<T> =
  | {
      admitted: true;
      entry: PoolEntry<T>;
      /** The handshake dropped to make room, for the caller to close (null: there was room). */
      dropped: PoolEntry<T> | null;
    }
  | {
      admitted: false;
      /** The host refused (IPv6: its /64). */
      host: string;
      /** The secrets it failed in a row. */
      failures: number;
      /** The length of its current refusal, in seconds. */
      seconds: number;
      /** True for the first connection refused in this refusal (the one to log). */
      first: boolean;
    };

interface Entry<T> extends PoolEntry<T> {
  dropped: boolean;
  /** Admission order, to find the oldest across hosts. */
  readonly order: number;
  live: boolean;
}

interface Backoff {
  failures: number;
  /** When the refusal ends (by the pool's clock). */
  until: number;
  /** Whether a connection was refused (and so logged) in this refusal already. */
  told: boolean;
}

/**
 * The handshakes `receive` runs side by side while it waits for its sender, and who may
 * start one. It delays rather than refuses: when all `maxHandshakes` are taken, a new
 * connection drops the oldest handshake of the host that has the most (the newcomer
 * counted), so a flood of silent connections from one host makes room for another
 * host's sender instead of shutting it out, and from the same host is dropped oldest
 * first. A host whose secret failed is refused for a backoff that doubles with every
 * failure in a row (1 s, 2 s, 4 s, ... up to 60 s), so secrets cannot be tried fast; a
 * handshake that passes forgets its host's failures, and so does a quiet `maxBackoffMs`
 * after a refusal ends.
 *
 * It holds no connection itself and runs no timer: the caller closes what it is told
 * to drop and reports how each handshake ended. Memory is bounded: `maxHandshakes`
 * handshakes, hosts counted only while they have one, `rememberHosts` failure records.
 *
 * @example
 * ```ts
 * import { HandshakePool } from "./handshake-pool.ts";
 * const pool = new HandshakePool<string>({ maxHandshakes: 2 });
 * const a = pool.admit("10.0.0.5", "first");
 * pool.admit("10.0.0.5", "second");
 * const c = pool.admit("10.0.0.9", "third"); // drops "first": 10.0.0.5 has the most
 * if (c.admitted) console.log(c.dropped?.value); // "first"
 * if (a.admitted) pool.finish(a.entry, "failed"); // a no-op for a dropped handshake
 * ```
 */
export class HandshakePool<T> {
  readonly #max: number;
  readonly #firstBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #remember: number;
  readonly #now: () => number;
  /** The handshakes in progress by host, each set oldest first; a host goes with its last. */
  readonly #byHost = new Map<string, Set<Entry<T>>>();
  /** Hosts with failed secrets, least recently failed first. */
  readonly #backoffs = new Map<string, Backoff>();
  #size = 0;
  #order = 0;

  constructor(options: HandshakePoolOptions = {}) {
    this.#max = options.maxHandshakes ?? 32;
    if (!Number.isInteger(this.#max) || this.#max < 1) {
      throw new ArgumentError(
        `Cannot create a handshake pool: maxHandshakes must be a positive integer, got ${this.#max}`,
      );
    }
    this.#firstBackoffMs = options.firstBackoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.#remember = options.rememberHosts ?? 4096;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Handshakes in progress. */
  get size(): number {
    return this.#size;
  }

  /** Hosts with a handshake in progress. */
  get hosts(): number {
    return this.#byHost.size;
  }

  /** Handshakes in progress from `host` (an IPv6 host: from its /64). */
  countOf(host: string): number {
    return this.#byHost.get(hostGroup(host))?.size ?? 0;
  }

  /** What the handshakes in progress hold, oldest first within each host. */
  *values(): IterableIterator<T> {
    for (const entries of this.#byHost.values()) for (const entry of entries) yield entry.value;
  }

  /**
   * Takes a connection from `peerHost` (an IP address, or a Unix socket's path) for a
   * handshake, dropping the oldest handshake of the busiest host when the pool is full;
   * or refuses it while its host is backing off after a failed secret.
   */
  admit(peerHost: string, value: T): Admission<T> {
    const host = hostGroup(peerHost);
    const backoff = this.#refusing(host);
    if (backoff !== null) {
      const first = !backoff.told;
      backoff.told = true;
      return {
        admitted: false,
        host,
        failures: backoff.failures,
        seconds: this.#backoffMs(backoff.failures) / 1000,
        first,
      };
    }
    // A host whose secret failed lately guesses one connection at a time: it cannot
    // open a pool's worth of guesses the moment its refusal ends.
    const failed = this.#backoffs.get(host);
    if (failed !== undefined && this.countOf(host) > 0) {
      return { admitted: false, host, failures: failed.failures, seconds: 0, first: false };
    }
    const dropped = this.#size >= this.#max ? this.#dropFor(host) : null;
    const entry: Entry<T> = { value, host, dropped: false, order: this.#order++, live: true };
    let entries = this.#byHost.get(host);
    if (entries === undefined) {
      entries = new Set();
      this.#byHost.set(host, entries);
    }
    entries.add(entry);
    this.#size++;
    return { admitted: true, entry, dropped };
  }

  /**
   * Takes a handshake out of the pool as it ended: `outcome` says what its host is owed.
   * For one dropped already (or finished), only the outcome is recorded.
   */
  finish(handshake: PoolEntry<T>, outcome: HandshakeOutcome): void {
    const entry = handshake as Entry<T>;
    if (entry.live) this.#remove(entry);
    if (outcome === "passed") this.#backoffs.delete(entry.host);
    else if (outcome === "bad-secret") this.#failed(entry.host);
  }

  /** The backoff refusing `host` now, or null; forgets one that ended long enough ago. */
  #refusing(host: string): Backoff | null {
    const backoff = this.#backoffs.get(host);
    if (backoff === undefined) return null;
    const now = this.#now();
    if (now < backoff.until) return backoff;
    if (now - backoff.until >= this.#maxBackoffMs) this.#backoffs.delete(host);
    return null;
  }

  /** Records a failed secret from `host`: a refusal twice as long as the one before. */
  #failed(host: string): void {
    const now = this.#now();
    let backoff = this.#backoffs.get(host);
    if (backoff !== undefined && now - backoff.until >= this.#maxBackoffMs) backoff = undefined;
    this.#backoffs.delete(host); // re-inserted last: the map stays in order of failure
    if (backoff === undefined && this.#backoffs.size >= this.#remember) this.#forgetOldest(now);
    const failures = (backoff?.failures ?? 0) + 1;
    this.#backoffs.set(host, {
      failures,
      until: now + this.#backoffMs(failures),
      told: false,
    });
  }

  /** Makes room for one failure record: the quiet ones go, else the least recent. */
  #forgetOldest(now: number): void {
    for (const [host, backoff] of this.#backoffs) {
      if (now - backoff.until >= this.#maxBackoffMs) this.#backoffs.delete(host);
    }
    if (this.#backoffs.size < this.#remember) return;
    const oldest = this.#backoffs.keys().next();
    if (!oldest.done) this.#backoffs.delete(oldest.value);
  }

  #backoffMs(failures: number): number {
    // The exponent is capped so a long run of failures cannot overflow to Infinity.
    return Math.min(this.#firstBackoffMs * 2 ** Math.min(failures - 1, 52), this.#maxBackoffMs);
  }

  /**
   * Drops the oldest handshake of the host with the most (`newcomer`'s counted one more,
   * so its own new connection pushes out its old ones first); between hosts with as
   * many, the one whose oldest is oldest.
   */
  #dropFor(newcomer: string): Entry<T> | null {
    let victim: Entry<T> | null = null;
    let most = 0;
    for (const [host, entries] of this.#byHost) {
      const count = entries.size + (host === newcomer ? 1 : 0);
      const oldest = entries.values().next().value as Entry<T>;
      if (count > most || (count === most && victim !== null && oldest.order < victim.order)) {
        most = count;
        victim = oldest;
      }
    }
    if (victim === null) return null;
    this.#remove(victim);
    victim.dropped = true;
    return victim;
  }

  #remove(entry: Entry<T>): void {
    entry.live = false;
    const entries = this.#byHost.get(entry.host);
    if (entries?.delete(entry) !== true) return;
    this.#size--;
    if (entries.size === 0) this.#byHost.delete(entry.host);
  }
}

/**
 * The host a peer is counted under: an IPv6 address stands for its /64 (one subscriber
 * has a whole /64 to connect from), an IPv4-mapped one for its IPv4 address; anything
 * else (IPv4, a Unix socket's path) for itself.
 */
function hostGroup(host: string): string {
  const zone = host.indexOf("%");
  const ip = zone === -1 ? host : host.slice(0, zone);
  if (isIP(ip) !== 6) return host;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped !== null) return mapped[1] as string;
  const [head = "", tail] = ip.toLowerCase().split("::");
  const front = head === "" ? [] : head.split(":");
  // An embedded IPv4 tail (::1.2.3.4) takes two groups, and is past the /64 either way.
  const back = tail === undefined || tail === "" ? [] : tail.split(":");
  const backGroups = back.reduce((n, part) => n + (part.includes(".") ? 2 : 1), 0);
  const groups =
    tail === undefined
      ? front
      : [...front, ...Array(8 - front.length - backGroups).fill("0"), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}
