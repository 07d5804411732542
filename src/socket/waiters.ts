import { BlockingIOError, type SocketError, TimeoutError } from "../core/errors.ts";

/**
 * The callers waiting for a state change (data, a connection, end of stream), woken all
 * at once. A caller that times out removes itself, so waiting in a loop never leaks and
 * the data that arrives later stays queued for the next call.
 */
export class Waiters {
  #waiting = new Set<() => void>();

  /** Wakes every waiter; each re-checks the state it waits for. */
  wake(): void {
    if (this.#waiting.size === 0) return;
    const all = this.#waiting;
    this.#waiting = new Set();
    for (const resolve of all) resolve();
  }

  /**
   * Resolves at the next `wake()`. `timeoutMs` null waits forever; 0 throws
   * `BlockingIOError` at once (Python's non-blocking mode); otherwise a `TimeoutError`
   * saying `Cannot ACTION: timed out` is thrown when the time runs out.
   */
  wait(timeoutMs: number | null, action: string): Promise<void> {
    if (timeoutMs === 0) {
      return Promise.reject(
        new BlockingIOError(`Cannot ${action}: resource temporarily unavailable`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      if (timeoutMs === null) {
        this.#waiting.add(resolve);
        return;
      }
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(done);
        reject(timeoutError(action));
      }, timeoutMs);
      this.#waiting.add(done);
    });
  }
}

/** The `TimeoutError` for an action: `Cannot receive from 127.0.0.1:80: timed out`. */
export function timeoutError(action: string): SocketError {
  return new TimeoutError(`Cannot ${action}: timed out`);
}
