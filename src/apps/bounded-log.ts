import { LogBudget } from "../core/log-budget.ts";

/** Options of {@link BoundedLog}. */
export interface BoundedLogOptions {
  /** Where the lines go. @default process.stderr */
  log?: (line: string) => void;
  /** Lines written at most per window; past it the rest are counted. @default 10 */
  maxLines?: number;
  /** The window, in milliseconds: a key is written once in it. @default 10000 */
  windowMs?: number;
  /** The line that sums up `n` lines left out of a window. */
  summary: (n: number) => string;
}

/** Keys remembered at most in a window; past it the memory starts over, so it stays bounded. */
const REMEMBER = 4096;

/**
 * A log for events a peer can cause as often as it likes (refused clients, connections
 * that are not what was expected): an event is written once per key (a host, say) in each
 * window, the repeats dropped, and through a {@link LogBudget}, so at most `maxLines` lines
 * go out per window and the rest are summed up in one line. The rule of `AccessGate`'s
 * refusals (`src/server/access-gate.ts`), for the events of the apps.
 *
 * @example
 * ```ts
 * const ignored = new BoundedLog({ summary: (n) => `ignored ${n} more connections` });
 * ignored.note("10.0.0.5", "ignored 10.0.0.5:51234: not a transfer peer");
 * ignored.note("10.0.0.5", "ignored 10.0.0.5:51235: not a transfer peer"); // dropped
 * ignored.close(); // writes the summary still owed, if any
 * ```
 */
export class BoundedLog {
  readonly #budget: LogBudget;
  readonly #windowMs: number;
  /** The keys written since `#since`. */
  readonly #seen = new Set<string>();
  #since = Number.NEGATIVE_INFINITY;

  constructor(options: BoundedLogOptions) {
    this.#budget = new LogBudget(options.log ?? ((line) => process.stderr.write(`${line}\n`)), {
      maxLines: options.maxLines,
      windowMs: options.windowMs,
      summary: options.summary,
    });
    this.#windowMs = options.windowMs ?? 10_000;
  }

  /** Writes `line` (within the budget), unless `key` was written in this window. */
  note(key: string, line: string): void {
    const now = performance.now();
    if (now - this.#since >= this.#windowMs || this.#seen.size >= REMEMBER) {
      this.#seen.clear();
      this.#since = now;
    }
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#budget.write(line);
  }

  /** Writes the summary still owed, if any; the log keeps working. */
  close(): void {
    this.#budget.flush();
  }
}
