/**
 * What a soak counts: operations done, errors clients saw (expected under faults) and
 * errors they must never see, with a few examples of each. Every map and list is bounded,
 * so a run of hours costs no more memory than a run of seconds.
 * @module
 */

/** Distinct error kinds kept; the rest are summed under "other". */
const MAX_KINDS = 40;
/** Examples of unexpected errors kept. */
const MAX_EXAMPLES = 20;

/** Digits, addresses and paths out of a message, so that like errors count together. */
export function errorKind(message: string): string {
  return message
    .replace(/(?:\/[\w.-]+){2,}/g, "PATH")
    .replace(/\d+\.\d+\.\d+\.\d+(:\d+)?/g, "ADDR")
    .replace(/\d+(\.\d+)?/g, "N")
    .slice(0, 120);
}

/**
 * The soak's counters.
 *
 * @example
 * ```ts
 * const tally = new SoakTally();
 * tally.count("echo exchanges");
 * tally.expected("echo", "ECONNRESET");
 * tally.unexpected("echo", "the echo differs at byte 12 (seed 42)");
 * ```
 */
export class SoakTally {
  /** Operations by name, in the order first counted. */
  readonly ops = new Map<string, number>();
  /** Errors seen under faults, by kind. */
  readonly expectedErrors = new Map<string, number>();
  expectedTotal = 0;
  /** Errors that no fault explains. */
  unexpectedTotal = 0;
  readonly unexpectedExamples: string[] = [];

  count(name: string, n = 1): void {
    this.ops.set(name, (this.ops.get(name) ?? 0) + n);
  }

  get(name: string): number {
    return this.ops.get(name) ?? 0;
  }

  /** An error a fault explains. */
  expected(what: string, kind: string): void {
    this.expectedTotal++;
    let key = `${what}: ${errorKind(kind)}`;
    if (!this.expectedErrors.has(key) && this.expectedErrors.size >= MAX_KINDS) key = "other";
    this.expectedErrors.set(key, (this.expectedErrors.get(key) ?? 0) + 1);
  }

  /** An error nothing explains: a failure of the software under test (or of the soak). */
  unexpected(what: string, detail: string): void {
    this.unexpectedTotal++;
    const line = `${what}: ${detail}`;
    process.stderr.write(`soak: UNEXPECTED ${line}\n`);
    if (this.unexpectedExamples.length < MAX_EXAMPLES) this.unexpectedExamples.push(line);
  }
}
