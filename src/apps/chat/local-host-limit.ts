import { BoundedLog } from "../../core/bounded-log.ts";
import { type HostLimit, hostGroup } from "./host-limit.ts";

/** Options of {@link LocalHostLimit}. */
export interface HostLimitOptions {
  /** Connections at once from one address (an IPv6 /64). @default 20 */
  max?: number;
  /** Where refusals go, once per address group in a while. @default nothing */
  log?: (line: string) => void;
}

/**
 * Counts the connections of each address group ({@link hostGroup}) on this server and
 * refuses those over the limit, logging a refusal once per group (bounded), never once
 * per connection.
 *
 * @example
 * ```ts
 * import { LocalHostLimit } from "./local-host-limit.ts";
 * const limit = new LocalHostLimit({ max: 1 });
 * limit.take("127.0.0.1", "127.0.0.1:50000"); // "127.0.0.1"
 * limit.take("127.0.0.1", "127.0.0.1:50001"); // null: refused
 * limit.give("127.0.0.1");
 * ```
 */
export class LocalHostLimit implements HostLimit {
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

  take(host: string, address: string): string | null {
    const group = hostGroup(host);
    if (this.count(group) >= this.max) {
      this.refused(group, address);
      return null;
    }
    this.add(group);
    return group;
  }

  give(group: string): void {
    const left = this.count(group) - 1;
    if (left <= 0) this.#counts.delete(group);
    else this.#counts.set(group, left);
  }

  stop(): void {
    this.#counts.clear();
    this.#refusals.close();
  }

  /** The connections counted in `group`. */
  count(group: string): number {
    return this.#counts.get(group) ?? 0;
  }

  /** Counts one more connection in `group` whatever the limit (another count let it in). */
  add(group: string): void {
    this.#counts.set(group, this.count(group) + 1);
  }

  /** Logs a connection from `address` refused (once per group in a while). */
  refused(group: string, address: string): void {
    this.#refusals.note(
      group,
      `refused ${address} (over ${this.max} connections from one address)`,
    );
  }

  /** Every group with connections, and how many. */
  entries(): IterableIterator<[string, number]> {
    return this.#counts.entries();
  }
}
