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
 * import { createServer, LineSplitter } from "socketkit";
 * import { LineDeadline } from "./line-deadline.ts";
 * await using server = await createServer(["127.0.0.1", 5000]);
 * const [conn] = await server.accept();
 * const lines = new LineSplitter();
 * const deadline = new LineDeadline(300);
 * for (let chunk = await conn.recv(4096); chunk.length > 0; chunk = await conn.recv(4096)) {
 *   lines.push(chunk);
 *   let ended = 0; // how many lines the chunk completed
 *   while (lines.next() !== undefined) ended++;
 *   if (deadline.check(lines.midLine, ended > 0)) break; // line too slow
 * }
 * await conn.close();
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
