import { AccessList, type AccessListOptions } from "../core/access-list.ts";
import { formatAddress, type SocketAddress } from "../core/address.ts";
import { LogBudget } from "../core/log-budget.ts";

/** Options of {@link AccessGate}. */
export interface AccessGateOptions {
  /** Where the `refused HOST:PORT (reason)` lines go. @default process.stderr */
  log?: (line: string) => void;
  /**
   * Lines about refused peers at most per `windowMs`; past it refusals are counted and
   * summed up in one line when the window ends. @default 10
   */
  maxLines?: number;
  /** The window `maxLines` counts in, in milliseconds. @default 10000 */
  windowMs?: number;
  /**
   * Refused hosts remembered, each logged only the first time it is refused; past it the
   * memory starts over, so it stays bounded. @default 4096
   */
  remember?: number;
}

/**
 * The door of a server: lets a peer in or refuses it by an {@link AccessList}, and says
 * so in one line per refused host (`refused 10.0.0.5:51234 (not allowed)`), bounded so
 * that a flood of refused connections or datagrams cannot flood the log: each host is
 * logged once, and at most `maxLines` lines are written per window, the rest counted.
 *
 * @example
 * ```ts
 * import { AccessGate } from "socketkit/server";
 * const gate = AccessGate.create({ deny: ["10.0.0.0/8"] });
 * gate?.admits(["10.1.2.3", 51234]); // false, and logs: refused 10.1.2.3:51234 (denied)
 * ```
 */
export class AccessGate {
  readonly access: AccessList;
  readonly #log: LogBudget;
  readonly #remember: number;
  readonly #logged = new Set<string>();

  constructor(access: AccessList, options: AccessGateOptions = {}) {
    this.access = access;
    this.#log = new LogBudget(options.log ?? ((line) => process.stderr.write(`${line}\n`)), {
      maxLines: options.maxLines,
      windowMs: options.windowMs,
      summary: (n) => `refused ${n} more ${n === 1 ? "peer" : "peers"} (not logged one by one)`,
    });
    this.#remember = options.remember ?? 4096;
  }

  /**
   * A gate for these lists, or null when they are empty (everyone gets in, and callers
   * skip the check). Throws `AccessListError` for an entry it cannot read.
   */
  static create(lists: AccessListOptions, options: AccessGateOptions = {}): AccessGate | null {
    const access = new AccessList(lists);
    return access.empty ? null : new AccessGate(access, options);
  }

  /** Whether the peer may come in; a refusal is logged (within the limits). */
  admits(peer: SocketAddress): boolean {
    const host = typeof peer === "string" ? peer : peer[0];
    const refusal = this.access.refusal(host);
    if (refusal === null) return true;
    this.#refused(host, `${formatAddress(peer) || "a peer"} (${refusal})`);
    return false;
  }

  #refused(host: string, what: string): void {
    if (this.#logged.has(host)) return;
    if (this.#logged.size >= this.#remember) this.#logged.clear();
    this.#logged.add(host);
    this.#log.write(`refused ${what}`);
  }

  /** Writes the summary still owed, if any; the gate keeps working. */
  close(): void {
    this.#log.flush();
  }
}
