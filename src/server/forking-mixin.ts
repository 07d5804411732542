import type { TCPServer } from "./tcp-server.ts";
import { madeBy } from "./threading-mixin.ts";
import type { UDPServer } from "./udp-server.ts";
import { WorkerPool } from "./worker-pool.ts";

/** The classes ForkingMixIn made, for `instanceof ForkingMixIn`. */
const made = new WeakSet<object>();

/**
 * Python's `socketserver.ForkingMixIn`, as a TypeScript mixin for `TCPServer`, `UDPServer`
 * and their subclasses: `class MyServer extends ForkingMixIn(TCPServer)` ports Python's
 * `class MyServer(ForkingMixIn, TCPServer)`; its static `create` still works, and
 * `server instanceof ForkingMixIn` is true for its servers.
 *
 * Python forks a process per request; Node.js cannot fork, so socketkit runs a pool of
 * worker processes instead: the mixin makes the `workers` option default to one per core
 * (as `ForkingTCPServer` does). The script runs once per worker, as with `node:cluster`:
 * in the primary, `create()` starts the workers and `serveForever()` supervises them,
 * restarting any that dies; `shutdown()` there stops them all (waiting for them to exit
 * when `blockOnClose`, as Python's `server_close()` waits for its children). Each worker
 * handles its requests concurrently, as every socketkit server does. Python's
 * `max_children` is `workers` here, and no process is made per request. A Unix datagram
 * server cannot be shared between processes: `create()` raises `UnsupportedError`.
 *
 * @example
 * ```ts
 * import cluster from "node:cluster";
 * import { BaseRequestHandler, ForkingMixIn, TCPServer } from "socketkit/server";
 * class Pid extends BaseRequestHandler {
 *   override async handle() {
 *     await this.request.sendall(`served by process ${process.pid}\n`);
 *   }
 * }
 * // Python: class MyServer(ForkingMixIn, TCPServer): pass
 * class MyServer extends ForkingMixIn(TCPServer) {}
 * const server = await MyServer.create(["127.0.0.1", 9999], Pid, { workers: 4 });
 * if (cluster.isPrimary) process.once("SIGTERM", () => void server.shutdown());
 * await server.serveForever();
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: TypeScript's mixins take their base class as any[] => T
export function ForkingMixIn<TBase extends new (...args: any[]) => TCPServer | UDPServer>(
  Base: TBase,
): TBase {
  // Typed loosely inside: TypeScript cannot extend a generic class of a union type.
  const Forking = class extends (Base as unknown as new (...args: unknown[]) => object) {
    constructor(...args: unknown[]) {
      const [address, handler, options] = args as [unknown, unknown, { workers?: number }?];
      super(address, handler, {
        ...options,
        workers: options?.workers ?? WorkerPool.defaultWorkers(),
      });
    }
  };
  Object.defineProperty(Forking, "name", { value: `Forking${Base.name}` });
  made.add(Forking);
  return Forking as unknown as TBase;
}

Object.defineProperty(ForkingMixIn, Symbol.hasInstance, {
  value: (value: unknown): boolean => madeBy(made, value),
});
