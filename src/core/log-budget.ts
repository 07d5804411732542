/** The log every server and command writes to unless told otherwise: a line on stderr. */
export function stderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Options of {@link LogBudget}. */
export interface LogBudgetOptions {
  /** Lines written at most per window; the rest are counted. @default 10 */
  maxLines?: number;
  /** The window, in milliseconds. @default 10000 */
  windowMs?: number;
  /** The line that sums up `n` lines not written, when the window ends. */
  summary: (n: number) => string;
}

/**
 * A bounded log: at most `maxLines` lines per window, the rest counted and summed up in
 * one line when the window ends, so a flood of peers (refused, reset, timed out) cannot
 * flood the log.
 *
 * @example
 * ```ts
 * import { LogBudget } from "./log-budget.ts";
 * const log = new LogBudget((l) => console.error(l), { summary: (n) => `${n} more resets` });
 * for (let i = 0; i < 100; i++) log.write(`reset ${i}`); // 10 lines, then "90 more resets"
 * ```
 */
export class LogBudget {
  readonly #log: (line: string) => void;
  readonly #maxLines: number;
  readonly #windowMs: number;
  readonly #summary: (n: number) => string;
  #windowStart = Number.NEGATIVE_INFINITY;
  #lines = 0;
  #unwritten = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(log: (line: string) => void, options: LogBudgetOptions) {
    this.#log = log;
    this.#maxLines = options.maxLines ?? 10;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#summary = options.summary;
  }

  /** Writes the line, or counts it when this window's lines are spent. */
  write(line: string): void {
    const now = performance.now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#lines = 0;
    }
    if (this.#lines < this.#maxLines) {
      this.#lines++;
      this.#log(line);
      return;
    }
    this.#unwritten++;
    if (this.#timer === null) {
      this.#timer = setTimeout(() => this.#summarise(), this.#windowStart + this.#windowMs - now);
      this.#timer.unref();
    }
  }

  #summarise(): void {
    this.#timer = null;
    // The window is over (a timer may fire a hair early by the clock): start a new one.
    this.#windowStart = Number.NEGATIVE_INFINITY;
    if (this.#unwritten === 0) return;
    const n = this.#unwritten;
    this.#unwritten = 0;
    this.#log(this.#summary(n));
  }

  /** Writes the summary still owed, if any; the log keeps working. */
  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#summarise();
  }
}
