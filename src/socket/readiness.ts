/**
 * What `socketkit/select` asks of a socket: which of reading and writing would not wait
 * now, and a call back when that may have changed. Each backend (StreamConnection,
 * Listener, DatagramEndpoint, the native addon's) answers from its own state and wakes through
 * its own `Waiters`, so waiting on a socket never reads from it: the data stays for the
 * next `recv()` or `accept()`.
 * @module
 */

/** Reading (`recv`, `recvfrom`, `accept`) would not wait: Python's `EVENT_READ`. */
export const READABLE = 1;
/** Writing (`send`, `sendto`) would not wait: Python's `EVENT_WRITE`. */
export const WRITABLE = 2;

/** One socket's readiness, as its backend knows it. */
export interface Readiness {
  /** Which of `events` (`READABLE | WRITABLE`) the socket is ready for now. */
  ready(events: number): number;
  /**
   * Calls `wake` (once, maybe more: it must not mind) when the readiness for `events` may
   * have changed; the caller then asks `ready` again. Returns a function that cancels it.
   */
  watch(events: number, wake: () => void): () => void;
  /** The descriptor under the socket, or -1 when Node.js does not show it. */
  fileno(): number;
}

const NOTHING_TO_CANCEL = (): void => {};

function noChange(): () => void {
  return NOTHING_TO_CANCEL;
}

function noDescriptor(): number {
  return -1;
}

/**
 * A stream socket with no connection and not listening (new, bound only, or its
 * connection failed): `recv`, `send` and `accept` raise at once, so it is ready for both,
 * as Linux reports an unconnected TCP socket (POLLHUP and POLLOUT).
 */
export const UNCONNECTED: Readiness = {
  ready: (events) => events & (READABLE | WRITABLE),
  watch: noChange,
  fileno: noDescriptor,
};

/** A datagram socket not yet bound nor connected: nothing to read, and `sendto` works. */
export const UNBOUND_DATAGRAM: Readiness = {
  ready: (events) => events & WRITABLE,
  watch: noChange,
  fileno: noDescriptor,
};

/** A closed socket: every call raises `EBADF` at once. */
export const CLOSED: Readiness = UNCONNECTED;

/**
 * A stream socket whose non-blocking `connect()` is under way: ready for nothing until it
 * settles, then (connected or not) what the socket is after it.
 */
export function connecting(pending: Promise<void>): Readiness {
  return {
    ready: () => 0,
    watch: (_events, wake) => {
      let live = true;
      const settled = () => {
        if (live) wake();
      };
      pending.then(settled, settled);
      return () => {
        live = false;
      };
    },
    fileno: noDescriptor,
  };
}

/** The descriptor of a libuv handle (`net.Socket`'s, `net.Server`'s), or -1. */
export function handleFd(owner: unknown): number {
  const fd = (owner as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === "number" ? fd : -1;
}
