/**
 * socketkit/select: Python's `select.select` and `selectors` over socketkit sockets, to
 * wait on many sockets at once from one task, as the tutorials' single-threaded servers
 * do. Waiting reads nothing: what made a socket ready is there for the next `recv()` or
 * `accept()`.
 *
 * @example
 * ```ts
 * import { createConnection } from "socketkit";
 * import { select } from "socketkit/select";
 * const conn = await createConnection(["127.0.0.1", 5000]);
 * const [readable] = await select([conn], [], [], 5);
 * if (readable.length > 0) console.log((await conn.recv(1024)).toString());
 * else console.log("nothing within 5 s");
 * await conn.close();
 * ```
 * @module
 */
export { DefaultSelector, type SelectorData, type SelectorKey } from "./default-selector.ts";
export { EVENT_READ, EVENT_WRITE } from "./events.ts";
export { select } from "./select.ts";
