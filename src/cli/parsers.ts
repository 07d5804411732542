import { InvalidArgumentError } from "commander";

/** Parses a port number (0-65535) for commander. */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`port must be 0-65535, got "${value}"`);
  }
  return n;
}

/** Parses seconds (>= 0, fractions allowed) for commander. */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`expected seconds >= 0, got "${value}"`);
  return n;
}

/** Parses a whole number >= 1 for commander. */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a whole number >= 1, got "${value}"`);
  return n;
}

/** Parses a whole number >= 0 for commander. */
export function parseCountOrZero(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected a whole number >= 0, got "${value}"`);
  return n;
}
