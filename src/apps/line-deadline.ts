/**
 * The time a line protocol gives a peer to finish a line, from its first byte: the
 * defence against a slowloris that sends a byte now and then and never ends its line,
 * which an idle timeout (no byte moved either way) never catches, however short.
 *
 * It arms no timer and costs nothing per connection but two numbers: it is checked as
 * bytes arrive (`check`, after each chunk is split into lines). A peer that stops sending
 * in the middle of a line is the idle timeout's to close.
 *
 * @example
 * ```ts
 * const deadline = new LineDeadline(300);
 * lines.push(chunk);
 * const ended = drainLines(lines); // how many lines the chunk completed
 * if (deadline.check(lines.midLine, ended > 0)) return closeWith("line too slow");
 * ```
 */
export class LineDeadline {
  /** Seconds a line may take from its first byte (null: no limit). */
  readonly seconds: number | null;
  /** performance.now() of the first byte of the unfinished line, or -1. */
  #startedAt = -1;

  constructor(seconds: number | null) {
    this.seconds = seconds !== null && seconds > 0 ? seconds : null;
  }

  /**
   * After bytes arrived: `open` says whether a line is left unfinished, `ended` whether a
   * line ended among them (so the unfinished one began with them). True when the
   * unfinished line has taken longer than the limit.
   */
  check(open: boolean, ended: boolean, now = performance.now()): boolean {
    if (!open || this.seconds === null) {
      this.#startedAt = -1;
      return false;
    }
    if (this.#startedAt < 0 || ended) {
      this.#startedAt = now;
      return false;
    }
    return now - this.#startedAt > this.seconds * 1000;
  }

  /** The unfinished line was taken as finished another way (a pause ended it). */
  reset(): void {
    this.#startedAt = -1;
  }
}
