import { BlockingIOError, type SocketError, TimeoutError } from "../core/errors.ts";

/**
 * The callers waiting for a state change (data, a connection, end of stream), woken all
 * at once. A caller that times out removes itself, so waiting in a loop never leaks and
 * the data that arrives later stays queued for the next call.
 */
export class Waiters {
  // One waiter is the common case (one reader per socket): no Set for it.
  #one: (() => void) | null = null;
  #more: Set<() => void> | null = null;
  /**
   * Whether a waiter's timeout keeps the process alive: false for a socket that was told
   * not to (`Socket.unref`), whose timeouts must not hold the process either.
   */
  refTimers = true;

  /** Wakes every waiter; each re-checks the state it waits for. */
  wake(): void {
    const one = this.#one;
    const more = this.#more;
    if (one === null && more === null) return;
    this.#one = null;
    this.#more = null;
    if (one !== null) one();
    if (more !== null) for (const resolve of more) resolve();
  }

  #add(resolve: () => void): void {
    if (this.#one === null) {
      this.#one = resolve;
      return;
    }
    this.#more ??= new Set();
    this.#more.add(resolve);
  }

  #remove(resolve: () => void): void {
    if (this.#one === resolve) this.#one = null;
    else this.#more?.delete(resolve);
  }

  /**
   * Calls `wake` once, at the next `wake()`, unless the returned function cancels it
   * first: for `select`, which waits on many sockets and must let go of all but the one
   * that woke it.
   */
  watch(wake: () => void): () => void {
    this.#add(wake);
    return () => this.#remove(wake);
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
        this.#add(resolve);
        return;
      }
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#remove(done);
        reject(timeoutError(action));
      }, timeoutMs);
      if (!this.refTimers) timer.unref();
      this.#add(done);
    });
  }
}

/** The `TimeoutError` for an action: `Cannot receive from 127.0.0.1:80: timed out`. */
export function timeoutError(action: string): SocketError {
  return new TimeoutError(`Cannot ${action}: timed out`);
}
