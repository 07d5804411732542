import { isIP } from "node:net";
import type { MaybePromise } from "./chat-bus.ts";

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

/**
 * Counts the connections of each address group ({@link hostGroup}) and refuses those over
 * the limit: `LocalHostLimit` counts this server's, `RedisHostLimit` every
 * server's sharing a Redis.
 */
export interface HostLimit {
  /** Connections at once from one address group. */
  readonly max: number;
  /**
   * Counts a connection from `host` (`address`, with its port, for the log): its group, to
   * give back when it ends, or null when the group is at the limit (logged). Now, or later
   * when the count is shared; never rejects.
   */
  take(host: string, address: string): MaybePromise<string | null>;
  /** A connection counted by {@link take} has ended. */
  give(group: string): void;
  /** Forgets every count (everyone was disconnected) and writes the summary still owed. */
  stop(): MaybePromise<void>;
}
