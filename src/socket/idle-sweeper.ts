/** Something the sweeper checks: a connection that closes itself once silent too long. */
export interface Sweepable {
  /** Looks at the connection's byte counters; `now` is `performance.now()`. */
  checkIdle(now: number): void;
}

/**
 * One timer for every connection with the same idle period. A timer per connection cost
 * 10,000 timers (and their closures) for 10,000 idle connections; a set of connections
 * walked four times per period costs a set entry each.
 */
export class IdleSweeper {
  static readonly #byInterval = new Map<number, IdleSweeper>();
  readonly #interval: number;
  readonly #members = new Set<Sweepable>();
  #timer: NodeJS.Timeout | null = null;

  private constructor(interval: number) {
    this.#interval = interval;
  }

  /** The sweeper that checks every `interval` milliseconds. */
  static every(interval: number): IdleSweeper {
    let sweeper = IdleSweeper.#byInterval.get(interval);
    if (sweeper === undefined) {
      sweeper = new IdleSweeper(interval);
      IdleSweeper.#byInterval.set(interval, sweeper);
    }
    return sweeper;
  }

  add(member: Sweepable): void {
    this.#members.add(member);
    if (this.#timer === null) {
      this.#timer = setInterval(this.#sweep, this.#interval);
      // A sweeper never keeps the process alive: the connections do.
      this.#timer.unref();
    }
  }

  delete(member: Sweepable): void {
    if (!this.#members.delete(member) || this.#members.size > 0) return;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Members being watched (for tests). */
  get size(): number {
    return this.#members.size;
  }

  /** Whether its timer runs (for tests: it stops with the last member). */
  get running(): boolean {
    return this.#timer !== null;
  }

  #sweep = (): void => {
    const now = performance.now();
    // A member that closes itself leaves the set while it is walked, which Set allows.
    for (const member of this.#members) member.checkIdle(now);
  };
}
