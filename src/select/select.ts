import { ArgumentError, SocketError } from "../core/errors.ts";
import { kReadiness } from "../socket/internal.ts";
import { READABLE, WRITABLE } from "../socket/readiness.ts";
import { Socket } from "../socket/socket.ts";
import { selectTimeoutMs, waitReady } from "./wait-ready.ts";

/** The sockets of one of select's lists, checked: socketkit sockets, none of them closed. */
function socketsOf<S extends Socket>(list: Iterable<S>, name: string): S[] {
  if (
    list === null ||
    list === undefined ||
    typeof (list as Partial<Iterable<S>>)[Symbol.iterator] !== "function"
  ) {
    throw new ArgumentError(
      `Cannot select: ${name} must be a list of sockets, got ${String(list)}`,
    );
  }
  const sockets = Array.from(list);
  sockets.forEach((s, i) => {
    if (!(s instanceof Socket)) {
      throw new ArgumentError(
        `Cannot select: ${name}[${i}] is not a socketkit Socket, got ${String(s)}`,
      );
    }
    if (s.closed) {
      throw new SocketError(`Cannot select on ${name}[${i}]: socket is closed`, { code: "EBADF" });
    }
  });
  return sockets;
}

/**
 * Python's `select.select(rlist, wlist, xlist, timeout)`: waits until some of the sockets
 * are ready and resolves with three new lists, those of `rlist` ready for reading, those
 * of `wlist` ready for writing and those of `xlist` in an exceptional condition, each in
 * the order given. `timeout` is in seconds: left out or `null`, it waits as long as it
 * takes; 0 polls; when it runs out, the three lists are empty.
 *
 * Ready for reading means the next call would not wait: a listening socket has a
 * connection to `accept()`, a stream socket has bytes buffered, end of stream or an error
 * to report (so `recv()` returns at once), a datagram socket has a datagram queued. Ready
 * for writing means `send()` would not wait: below the send buffer size (`SO_SNDBUF`), or
 * about to raise. Nothing is read: what made a socket ready is still there for the next
 * `recv()` or `accept()`.
 *
 * Differences from Python: the lists hold socketkit sockets (there are no descriptors to
 * pass); `xlist` is accepted but nothing is ever reported in it (Node.js cannot receive
 * TCP out-of-band data, the one exceptional condition of sockets); a socket closed
 * before the call raises `SocketError` `EBADF`, as Python does, and one closed while
 * waiting is reported ready, so that its next call raises at once. Other errors are
 * `ArgumentError` (Python's `TypeError` and `ValueError`).
 *
 * @example
 * ```ts
 * import { createServer, type Socket } from "socketkit";
 * import { select } from "socketkit/select";
 *
 * // The classic loop: a listening socket and its connections, one task.
 * const server = await createServer(["127.0.0.1", 0]);
 * const sockets: Socket[] = [server];
 * for (;;) {
 *   const [readable] = await select(sockets, [], [], 60);
 *   if (readable.length === 0) break; // a minute without a word
 *   for (const sock of readable) {
 *     if (sock === server) {
 *       const [conn] = await server.accept();
 *       sockets.push(conn);
 *       continue;
 *     }
 *     const data = await sock.recv(4096);
 *     if (data.length > 0) await sock.sendall(data);
 *     else {
 *       sockets.splice(sockets.indexOf(sock), 1);
 *       await sock.close();
 *     }
 *   }
 * }
 * for (const sock of sockets) await sock.close();
 * ```
 */
export async function select<R extends Socket, W extends Socket, X extends Socket>(
  rlist: Iterable<R>,
  wlist: Iterable<W>,
  xlist: Iterable<X>,
  timeout?: number | null,
): Promise<[R[], W[], X[]]> {
  const readers = socketsOf(rlist, "rlist");
  const writers = socketsOf(wlist, "wlist");
  socketsOf(xlist, "xlist");
  const ms = selectTimeoutMs(timeout);
  let readable: R[] = [];
  let writable: W[] = [];
  const check = () => {
    readable = readers.filter((s) => s[kReadiness]().ready(READABLE) !== 0);
    writable = writers.filter((s) => s[kReadiness]().ready(WRITABLE) !== 0);
    return readable.length > 0 || writable.length > 0;
  };
  // What to watch on each socket: a socket in both lists is watched once, for both.
  const events = new Map<Socket, number>();
  for (const s of readers) events.set(s, READABLE);
  for (const s of writers) events.set(s, (events.get(s) ?? 0) | WRITABLE);
  const watch = (wake: () => void) => {
    const cancels: (() => void)[] = [];
    for (const [s, e] of events) cancels.push(s[kReadiness]().watch(e, wake));
    return () => {
      for (const cancel of cancels) cancel();
    };
  };
  await waitReady(check, watch, ms);
  return [readable, writable, []];
}
