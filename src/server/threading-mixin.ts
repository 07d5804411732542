import type { BaseServer } from "./base-server.ts";

/** The classes ThreadingMixIn made, for `instanceof ThreadingMixIn`. */
const made = new WeakSet<object>();

/**
 * Python's `socketserver.ThreadingMixIn`, as a TypeScript mixin: `ThreadingMixIn(TCPServer)`
 * returns a subclass of `TCPServer`, so Python's `class MyServer(ThreadingMixIn, TCPServer)`
 * becomes `class MyServer extends ThreadingMixIn(TCPServer)`, and its static `create` still
 * works. `server instanceof ThreadingMixIn` is true for servers of such classes, as
 * Python's `isinstance(server, ThreadingMixIn)`.
 *
 * It changes nothing in how requests are handled: every socketkit server already gives each
 * request its own handler at once, on the event loop, which is what Python's threads are
 * for. Python's two class attributes of the mixin are on every server, as options or as
 * properties a subclass may set: `daemonThreads` (default false: the server waits for
 * running handlers, which keep the process alive) and `blockOnClose` (default true:
 * `shutdown()` and `close()` wait for them, within `gracePeriod`). See
 * {@link BaseServerOptions}.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer, ThreadingMixIn } from "socketkit/server";
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * // Python: class MyServer(ThreadingMixIn, TCPServer): daemon_threads = True
 * class MyServer extends ThreadingMixIn(TCPServer) {
 *   override daemonThreads = true;
 * }
 * await using server = await MyServer.create(["127.0.0.1", 0], Echo);
 * console.log(server instanceof ThreadingMixIn); // true
 * await server.serveForever();
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: TypeScript's mixins take their base class as any[] => T
export function ThreadingMixIn<TBase extends new (...args: any[]) => BaseServer<any>>(
  Base: TBase,
): TBase {
  // Typed loosely inside: TypeScript cannot extend a generic class with abstract members.
  const Threading = class extends (Base as unknown as new (...args: unknown[]) => object) {};
  Object.defineProperty(Threading, "name", { value: `Threading${Base.name}` });
  made.add(Threading);
  return Threading as unknown as TBase;
}

Object.defineProperty(ThreadingMixIn, Symbol.hasInstance, {
  value: (value: unknown): boolean => madeBy(made, value),
});

/** True when a class of `value`'s prototype chain is in `classes`. */
export function madeBy(classes: WeakSet<object>, value: unknown): boolean {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return false;
  for (let p = Object.getPrototypeOf(value); p !== null; p = Object.getPrototypeOf(p)) {
    if (classes.has(p.constructor)) return true;
  }
  return false;
}
