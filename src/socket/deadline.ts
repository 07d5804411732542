/**
 * Deadlines for operations under a socket timeout, as `performance.now()` values.
 * @module
 */

/** Milliseconds left until `deadline` (a `performance.now()` value), or null for none. */
export function remaining(deadline: number | null): number | null {
  if (deadline === null) return null;
  return Math.max(1, deadline - performance.now());
}

/** A deadline `seconds` from now, null for none; 0 stays 0 (non-blocking). */
export function deadlineFrom(seconds: number | null): number | null {
  if (seconds === null) return null;
  return performance.now() + seconds * 1000;
}

/**
 * Milliseconds one wait of an operation may take under the socket timeout `timeout`: 0
 * when non-blocking, else what is left until `deadline` (null: no limit).
 */
export function waitMs(timeout: number | null, deadline: number | null): number | null {
  return timeout === 0 ? 0 : remaining(deadline);
}
