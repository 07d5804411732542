/**
 * When the event loop was last free to read: a timer ticks every few milliseconds, and a
 * tick that comes late closes a stall (the server busy with other work). Bytes read just
 * after a stall waited in the kernel, and may have come in any time since it began.
 * One unref'd interval for the whole process, started on first use.
 */
const TICK_MS = 10;
let last = performance.now();
/** Where the stall that the last tick closed began; null once a tick comes on time. */
let stallStart: number | null = null;
let timer: NodeJS.Timeout | null = null;

/** The last time the event loop was free to read, as far as can be told (`performance.now()`). */
export function loopLastFree(): number {
  if (timer === null) {
    timer = setInterval(() => {
      const now = performance.now();
      stallStart = now - last > 3 * TICK_MS ? last : null;
      last = now;
    }, TICK_MS);
    timer.unref();
    last = performance.now();
  }
  return stallStart ?? last;
}
