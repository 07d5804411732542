import { InvalidArgumentError } from "commander";
import { quote } from "../core/escape.ts";

// Plain decimal digits only: `Number()` alone would take "" and " " as 0, "0x50" as 80,
// "1e3" as 1000 and "0b1" as 1.
const DIGITS = /^[0-9]+$/;
const DECIMAL = /^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)$/;

/** `value` as a whole number when it is plain decimal digits, else null. */
function wholeNumber(value: string): number | null {
  if (!DIGITS.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

/** Parses a port number (0-65535, decimal digits only) for commander. */
export function parsePort(value: string): number {
  const n = wholeNumber(value);
  if (n === null || n > 65535) {
    throw new InvalidArgumentError(`Port must be 0-65535 in decimal digits, got ${quote(value)}`);
  }
  return n;
}

/** Parses seconds (>= 0, a plain decimal such as `30` or `1.5`) for commander. */
export function parseSeconds(value: string): number {
  const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) {
    throw new InvalidArgumentError(
      `Expected seconds as a decimal number >= 0 (such as 30 or 1.5), got ${quote(value)}`,
    );
  }
  return n;
}

/** Parses a whole number >= 1 (decimal digits only) for commander. */
export function parseCount(value: string): number {
  const n = wholeNumber(value);
  if (n === null || n < 1) {
    throw new InvalidArgumentError(
      `Expected a whole number >= 1 in decimal digits, got ${quote(value)}`,
    );
  }
  return n;
}

/** Parses a whole number >= 0 (decimal digits only) for commander. */
export function parseCountOrZero(value: string): number {
  const n = wholeNumber(value);
  if (n === null) {
    throw new InvalidArgumentError(
      `Expected a whole number >= 0 in decimal digits, got ${quote(value)}`,
    );
  }
  return n;
}
