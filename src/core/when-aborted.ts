/**
 * Runs `fn` when `signal` aborts, or at once if it has aborted already (a listener added
 * then would never run); returns what takes `fn` off the signal.
 *
 * @example
 * ```ts
 * import { whenAborted } from "./when-aborted.ts";
 * const controller = new AbortController();
 * const unwire = whenAborted(controller.signal, () => console.log("stopped"));
 * try {
 *   controller.abort(); // prints "stopped"
 * } finally {
 *   unwire();
 * }
 * ```
 */
export function whenAborted(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (signal?.aborted) fn();
  else signal?.addEventListener("abort", fn, { once: true });
  return () => signal?.removeEventListener("abort", fn);
}
