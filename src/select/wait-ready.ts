import { ArgumentError } from "../core/errors.ts";

/** The longest a Node.js timer can wait (a longer one would fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits until `check()` finds something ready, checking again at every wake that `watch`
 * arranges (it returns what cancels them all), or until `timeoutMs` have passed (null: no
 * limit; 0: check once). Never less than `timeoutMs`: a timer that fires early is waited
 * out.
 *
 * The first check comes after a turn of the event loop: what the kernel holds reaches the
 * sockets' buffers only when Node.js polls, so this is what makes select see what the
 * system call would, and a loop that selects again and again (even with timeout 0, as
 * the tutorials' chat server does) never starves the I/O it waits for.
 */
export async function waitReady(
  check: () => boolean,
  watch: (wake: () => void) => () => void,
  timeoutMs: number | null,
): Promise<void> {
  const end = timeoutMs === null ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (check() || timeoutMs === 0) return;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) return;
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let cancel: (() => void) | null = null;
      let woken = false;
      const wake = () => {
        if (woken) return;
        woken = true;
        clearTimeout(timer);
        cancel?.();
        resolve();
      };
      cancel = watch(wake);
      if (woken) cancel();
      else if (left !== Number.POSITIVE_INFINITY) {
        timer = setTimeout(wake, Math.min(Math.ceil(left), MAX_TIMER_MS));
      }
    });
    if (check()) return;
  }
}

/**
 * Python's `select.select` timeout in milliseconds: seconds, `null` or `undefined` to wait
 * without limit; a negative number or anything else raises `ArgumentError` (Python's
 * `ValueError` and `TypeError`).
 */
export function selectTimeoutMs(timeout: number | null | undefined): number | null {
  if (timeout === null || timeout === undefined || timeout === Number.POSITIVE_INFINITY) {
    return null;
  }
  if (typeof timeout !== "number" || Number.isNaN(timeout)) {
    throw new ArgumentError(
      `Cannot select: timeout must be a number of seconds or null, got ${String(timeout)}`,
    );
  }
  if (timeout < 0) {
    throw new ArgumentError(`Cannot select: timeout must be non-negative, got ${timeout}`);
  }
  return timeout * 1000;
}

/**
 * A selector's `select(timeout)` in milliseconds, as Python's `selectors`: `null` or
 * `undefined` waits without limit, and 0 or less does not wait at all.
 */
export function selectorTimeoutMs(timeout: number | null | undefined): number | null {
  if (typeof timeout === "number" && timeout < 0) return 0;
  return selectTimeoutMs(timeout);
}
