/**
 * Shared pieces of the property tests under test/reliability/: what a coded error is,
 * what text is safe to print, and arbitraries for input split at arbitrary boundaries.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { SocketError } from "../../src/core/errors.ts";

/**
 * Bounds a synchronous property: one that has not finished its runs in `ms` stops there
 * (and passes with the runs made), so the files stay within their time budget on a slow
 * machine; a failing run is still reported with its counterexample and seed.
 */
export function budget(numRuns: number, ms = 2500): fc.Parameters<unknown> {
  return { numRuns, interruptAfterTimeLimit: ms, markInterruptAsFailure: false };
}

/**
 * Bounds an asynchronous property by its number of runs and a time limit on each run,
 * which fails the property: a time limit on the whole property would cut a hanging run
 * short and let it pass.
 */
export function asyncBudget(numRuns: number, msPerRun: number): fc.Parameters<unknown> {
  return { numRuns, timeout: msPerRun };
}

/**
 * Asserts that `err` is one of socketkit's errors (a `SocketError`) with a string `code`,
 * one of `codes` when given, and (unless `printable` is false) a message safe to print.
 */
export function assertCoded(
  err: unknown,
  codes?: readonly string[],
  options: { printable?: boolean } = {},
): asserts err is SocketError {
  assert.ok(err instanceof SocketError, `expected a SocketError, got ${inspectError(err)}`);
  assert.equal(typeof err.code, "string", `code of ${err.name}`);
  if (codes !== undefined) {
    assert.ok(codes.includes(err.code), `unexpected code ${err.code}: ${err.message}`);
  }
  if (options.printable !== false) assertPrintable(err.message, `message of ${err.code}`);
}

/** Calls `fn`; returns what it returned, or the error it threw after checking it is coded. */
export function codedOutcome<T>(
  fn: () => T,
  codes?: readonly string[],
): { value: T } | { error: SocketError } {
  try {
    return { value: fn() };
  } catch (err) {
    assertCoded(err, codes);
    return { error: err };
  }
}

function inspectError(err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}: ${err.message}`;
  return String(err);
}

/**
 * C0 controls, DEL, C1 controls and the bidirectional controls: what must never reach a
 * terminal from a peer.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the controls are what is matched
export const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f\p{Bidi_Control}]/u;

/** The C0 and C1 control characters and DEL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the controls are what is matched
export const C0_C1 = /[\u0000-\u001f\u007f-\u009f]/;

/** Asserts `text` holds no terminal control at all. */
export function assertPrintable(text: string, what = "text"): void {
  const m = TERMINAL_CONTROL.exec(text);
  assert.equal(
    m,
    null,
    `${what} holds U+${m?.[0].charCodeAt(0).toString(16).padStart(4, "0")}: ${JSON.stringify(text)}`,
  );
}

/** Cut positions for an input of up to `max` bytes. */
export const cutsArb = (max: number) => fc.array(fc.nat({ max }), { maxLength: 24 });

/**
 * Arbitrary bytes in which the given special bytes are common, so that framing and
 * escape sequences turn up in most runs rather than one in a hundred.
 */
export function bytesWith(special: readonly number[], maxLength: number): fc.Arbitrary<Buffer> {
  return fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
        fc.constantFrom(...special),
      ),
      {
        maxLength,
      },
    )
    .map((a) => Buffer.from(a));
}

/**
 * Text as a hostile peer would write it: any characters, with terminal controls (ESC
 * sequences, C1's CSI, DEL, BEL, bidirectional overrides, NEL) common rather than rare.
 */
export function textArb(maxPieces: number): fc.Arbitrary<string> {
  const control = fc.constantFrom(
    "\x1b[2J",
    "\x1b]0;owned\x07",
    "\x9b31m",
    "\x85",
    "\x7f",
    "\x00",
    "\t",
    "\r",
    "\u202e",
    "\u2066",
    "\u061c",
    "\u200f",
  );
  return fc
    .array(
      fc.oneof(control, fc.string({ maxLength: 6, unit: "binary" }), fc.string({ maxLength: 6 })),
      {
        maxLength: maxPieces,
      },
    )
    .map((pieces) => pieces.join(""));
}
