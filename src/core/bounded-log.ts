import { LogBudget, stderrLine } from "./log-budget.ts";

/** Options of {@link BoundedLog}. */
export interface BoundedLogOptions {
  /** Where the lines go. @default process.stderr */
  log?: (line: string) => void;
  /** Lines written at most per window; past it the rest are counted. @default 10 */
  maxLines?: number;
  /** The window, in milliseconds. @default 10000 */
  windowMs?: number;
  /**
   * How long a key stays quiet after its line, in milliseconds (`Infinity`: until the
   * memory of keys starts over). @default windowMs
   */
  quietMs?: number;
  /** Keys remembered at most; past it the memory starts over, so it stays bounded. @default 4096 */
  remember?: number;
  /** The line that sums up `n` lines left out of a window. */
  summary: (n: number) => string;
}

/**
 * A log for events a peer can cause as often as it likes (refused clients, connections
 * that are not what was expected): an event is written once per key (a host, say) in each
 * quiet period, the repeats dropped, and through a {@link LogBudget}, so at most `maxLines`
 * lines go out per window and the rest are summed up in one line. `AccessGate` logs its
 * refusals through one, each host once.
 *
 * @example
 * ```ts
 * import { BoundedLog } from "./bounded-log.ts";
 * const ignored = new BoundedLog({ summary: (n) => `ignored ${n} more connections` });
 * ignored.note("10.0.0.5", "ignored 10.0.0.5:51234: not a transfer peer");
 * ignored.note("10.0.0.5", "ignored 10.0.0.5:51235: not a transfer peer"); // dropped
 * ignored.close(); // writes the summary still owed, if any
 * ```
 */
export class BoundedLog {
  readonly #budget: LogBudget;
  readonly #quietMs: number;
  readonly #remember: number;
  /** The keys written since `#since`. */
  readonly #seen = new Set<string>();
  #since = Number.NEGATIVE_INFINITY;

  constructor(options: BoundedLogOptions) {
    this.#budget = new LogBudget(options.log ?? stderrLine, {
      maxLines: options.maxLines,
      windowMs: options.windowMs,
      summary: options.summary,
    });
    this.#quietMs = options.quietMs ?? options.windowMs ?? 10_000;
    this.#remember = options.remember ?? 4096;
  }

  /** Writes `line` (within the budget), unless `key` was written in this window. */
  note(key: string, line: string): void {
    const now = performance.now();
    if (now - this.#since >= this.#quietMs) {
      this.#seen.clear();
      this.#since = now;
    }
    if (this.#seen.has(key)) return;
    if (this.#seen.size >= this.#remember) this.#seen.clear();
    this.#seen.add(key);
    this.#budget.write(line);
  }

  /** Writes the summary still owed, if any; the log keeps working. */
  close(): void {
    this.#budget.flush();
  }
}
