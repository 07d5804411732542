import { AccessList, type AccessListOptions } from "../core/access-list.ts";
import { formatAddress, hostOf, type SocketAddress } from "../core/address.ts";
import { BoundedLog } from "../core/bounded-log.ts";

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
  /** The allow and deny lists this gate checks each peer against. */
  readonly access: AccessList;
  readonly #log: BoundedLog;

  constructor(access: AccessList, options: AccessGateOptions = {}) {
    this.access = access;
    this.#log = new BoundedLog({
      log: options.log,
      maxLines: options.maxLines,
      windowMs: options.windowMs,
      // Each host once, for as long as it is remembered.
      quietMs: Number.POSITIVE_INFINITY,
      remember: options.remember,
      summary: (n) => `refused ${n} more ${n === 1 ? "peer" : "peers"} (not logged one by one)`,
    });
  }

  /**
   * A gate for these lists, or null when they are empty (everyone gets in, and callers
   * skip the check). Throws `AccessListError` for an entry it cannot read.
   */
  static create(lists: AccessListOptions, options: AccessGateOptions = {}): AccessGate | null {
    const access = new AccessList(lists);
    return access.empty ? null : new AccessGate(access, options);
  }

  /**
   * Whether the peer may come in; a refusal is logged (within the limits). Bound, so it
   * can be handed on as it is (`createServer`'s `admit`).
   */
  readonly admits = (peer: SocketAddress): boolean => {
    const host = hostOf(peer);
    const refusal = this.access.refusal(host);
    if (refusal === null) return true;
    this.#log.note(host, `refused ${formatAddress(peer) || "a peer"} (${refusal})`);
    return false;
  };

  /** Writes the summary still owed, if any; the gate keeps working. */
  close(): void {
    this.#log.close();
  }
}
