import { READABLE, WRITABLE } from "../socket/readiness.ts";

/**
 * Wait for reading: `recv`, `recvfrom` or `accept` would not wait (Python's
 * `selectors.EVENT_READ`).
 *
 * @example
 * ```ts
 * import { createServer } from "socketkit";
 * import { DefaultSelector, EVENT_READ } from "socketkit/select";
 * const server = await createServer(["127.0.0.1", 0]);
 * using selector = new DefaultSelector();
 * selector.register(server, EVENT_READ);
 * const ready = await selector.select(0); // [] until a client connects
 * await server.close();
 * ```
 */
export const EVENT_READ = READABLE;

/**
 * Wait for writing: `send` would not wait (Python's `selectors.EVENT_WRITE`).
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * import { DefaultSelector, EVENT_READ, EVENT_WRITE } from "socketkit/select";
 * const conn = await createConnection(["127.0.0.1", 5000]);
 * using selector = new DefaultSelector();
 * selector.register(conn, EVENT_READ | EVENT_WRITE);
 * for (const [key, events] of await selector.select()) {
 *   if (events & EVENT_WRITE) await key.fileobj.send("hello");
 * }
 * await conn.close();
 * ```
 */
export const EVENT_WRITE = WRITABLE;
