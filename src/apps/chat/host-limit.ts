import { isIP } from "node:net";
import { BoundedLog } from "../../core/bounded-log.ts";

/**
 * The group a peer's address counts in for a per-address limit: an IPv4 address alone
 * (an IPv4-mapped IPv6 one too), an IPv6 address by its /64 (one host usually holds a
 * whole /64, so counting its addresses one by one would not limit it).
 *
 * @example
 * ```ts
 * import { hostGroup } from "./host-limit.ts";
 * hostGroup("2001:db8:1:2:aaaa::1"); // "2001:db8:1:2::/64"
 * hostGroup("::ffff:127.0.0.1"); // "127.0.0.1"
 * ```
 */
export function hostGroup(host: string): string {
  const bare = host.replace(/%.*$/, "");
  if (isIP(bare) !== 6) return bare;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped !== null) return mapped[1] as string;
  const [head = "", tail] = bare.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  // A dotted IPv4 tail is two groups; only the first four groups matter here.
  const width = right.some((g) => g.includes(".")) ? right.length + 1 : right.length;
  const all =
    tail === undefined ? left : [...left, ...Array(8 - left.length - width).fill("0"), ...right];
  return `${all
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/** Options of {@link HostLimit}. */
export interface HostLimitOptions {
  /** Connections at once from one address (an IPv6 /64). @default 20 */
  max?: number;
  /** Where refusals go, once per address group in a while. @default nothing */
  log?: (line: string) => void;
}

/**
 * Counts the connections of each address group ({@link hostGroup}) and refuses those over
 * the limit, logging a refusal once per group (bounded), never once per connection.
 *
 * @example
 * ```ts
 * import { HostLimit } from "./host-limit.ts";
 * const limit = new HostLimit({ max: 1 });
 * limit.take("127.0.0.1", "127.0.0.1:50000"); // "127.0.0.1"
 * limit.take("127.0.0.1", "127.0.0.1:50001"); // null: refused
 * limit.give("127.0.0.1");
 * ```
 */
export class HostLimit {
  /** Connections at once from one address group. */
  readonly max: number;
  readonly #counts = new Map<string, number>();
  readonly #refusals: BoundedLog;

  constructor(options: HostLimitOptions = {}) {
    this.max = options.max ?? 20;
    const log = options.log ?? (() => {});
    this.#refusals = new BoundedLog({
      log,
      quietMs: 60_000,
      summary: (n) =>
        `refused ${n} more connections over the limit per address (not logged one by one)`,
    });
  }

  /**
   * Counts a connection from `host` (`address`, with its port, for the log): its group,
   * to give back when it ends, or null when the group is at the limit (logged).
   */
  take(host: string, address: string): string | null {
    const group = hostGroup(host);
    const count = this.#counts.get(group) ?? 0;
    if (count >= this.max) {
      this.#refusals.note(
        group,
        `refused ${address} (over ${this.max} connections from one address)`,
      );
      return null;
    }
    this.#counts.set(group, count + 1);
    return group;
  }

  /** A connection counted by {@link take} has ended. */
  give(group: string): void {
    const left = (this.#counts.get(group) ?? 1) - 1;
    if (left <= 0) this.#counts.delete(group);
    else this.#counts.set(group, left);
  }

  /** Forgets every count (everyone was disconnected) and writes the summary still owed. */
  clear(): void {
    this.#counts.clear();
    this.#refusals.close();
  }
}
