/**
 * Runs `fn` when `signal` aborts, or at once if it has aborted already (a listener added
 * then would never run); returns what takes `fn` off the signal.
 *
 * @example
 * ```ts
 * const unwire = whenAborted(options.signal, () => void server.close());
 * try { ... } finally { unwire(); }
 * ```
 */
export function whenAborted(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (signal?.aborted) fn();
  else signal?.addEventListener("abort", fn, { once: true });
  return () => signal?.removeEventListener("abort", fn);
}
