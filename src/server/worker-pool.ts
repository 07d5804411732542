import cluster, { type Address as ClusterAddress, type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { type SocketAddress, toSocketAddress } from "../core/address.ts";
import { AF_INET, AF_INET6 } from "../core/constants.ts";
import { SocketError } from "../core/errors.ts";

/** The message the primary sends a worker to make it shut down. */
const SHUTDOWN = "socketkit:shutdown";
/** A worker on its own SO_REUSEPORT socket tells the primary its address this way. */
const LISTENING = "socketkit:listening";
/** The port every worker binds with SO_REUSEPORT (set by the primary). */
export const REUSEPORT_ENV = "SOCKETKIT_REUSEPORT_PORT";
/** Deaths within `RESTART_WINDOW_MS` past which a crashing worker is no longer restarted. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 10_000;

/** True in a worker process forked by a {@link WorkerPool}. */
export function isWorkerOf(): boolean {
  return cluster.isWorker;
}

/** What a worker's server needs for the pool to stop it. */
interface Stoppable {
  shutdown(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The primary's side of a `workers: N` server: forks N processes running the same
 * script (their servers share the port through node:cluster), restarts a worker that
 * dies, and stops them all on `stop()`.
 */
export class WorkerPool {
  readonly #count: number;
  readonly #log: (line: string) => void;
  readonly #graceMs: number;
  readonly #workers = new Set<Worker>();
  readonly #deaths: number[] = [];
  #stopping = false;
  #done!: () => void;
  readonly #finished = new Promise<void>((resolve) => {
    this.#done = resolve;
  });

  readonly #env: Record<string, string>;

  /** `env`: extra environment for the workers (the SO_REUSEPORT port, for one). */
  constructor(
    count: number,
    log: (line: string) => void,
    graceSeconds: number,
    env: Record<string, string> = {},
  ) {
    this.#count = count;
    this.#log = log;
    this.#graceMs = graceSeconds * 1000;
    this.#env = env;
  }

  /** One worker per core. */
  static defaultWorkers(): number {
    return availableParallelism();
  }

  /** Forks the workers; resolves with the address the first one listens on. */
  start(): Promise<SocketAddress> {
    return new Promise((resolve, reject) => {
      const onListening = (_worker: Worker, address: ClusterAddress) => {
        cluster.off("exit", onEarlyExit);
        cluster.off("message", onMessage);
        resolve(fromClusterAddress(address));
      };
      // Workers on their own SO_REUSEPORT sockets are not cluster listeners: they say so.
      const onMessage = (_worker: Worker, message: unknown) => {
        const m = message as { [LISTENING]?: SocketAddress } | null;
        if (m === null || typeof m !== "object" || m[LISTENING] === undefined) return;
        cluster.off("exit", onEarlyExit);
        cluster.off("listening", onListening);
        cluster.off("message", onMessage);
        resolve(m[LISTENING]);
      };
      cluster.on("message", onMessage);
      const onEarlyExit = (worker: Worker, code: number | null, signal: string | null) => {
        cluster.off("listening", onListening);
        cluster.off("message", onMessage);
        this.#stopping = true;
        void this.stop();
        reject(
          new SocketError(
            `Cannot start workers: worker ${worker.process.pid} exited (${signal ?? code}) before listening`,
            { code: "ECHILD" },
          ),
        );
      };
      cluster.once("listening", onListening);
      cluster.once("exit", onEarlyExit);
      for (let i = 0; i < this.#count; i++) this.#fork();
    });
  }

  /** Worker pids now running. */
  get pids(): number[] {
    return [...this.#workers].map((w) => w.process.pid ?? 0);
  }

  #fork(): void {
    const worker = cluster.fork(this.#env);
    this.#workers.add(worker);
    worker.on("error", () => {}); // IPC errors surface as an exit
    worker.on("exit", (code, signal) => this.#onExit(worker, code, signal));
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.#workers.delete(worker);
    if (this.#stopping) {
      if (this.#workers.size === 0) this.#done();
      return;
    }
    const now = Date.now();
    this.#deaths.push(now);
    while ((this.#deaths[0] as number) < now - RESTART_WINDOW_MS) this.#deaths.shift();
    if (this.#deaths.length > MAX_RESTARTS) {
      this.#log(
        `worker ${worker.process.pid} exited (${signal ?? code}); ${this.#deaths.length} deaths in ${RESTART_WINDOW_MS / 1000} s: not restarting`,
      );
      if (this.#workers.size === 0) this.#done();
      return;
    }
    this.#log(`worker ${worker.process.pid} exited (${signal ?? code}): restarting it`);
    this.#fork();
  }

  /** Resolves when every worker has exited after `stop()`. */
  supervise(): Promise<void> {
    return this.#finished;
  }

  /** Asks every worker to shut down gracefully; kills those still alive after the grace period. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#workers.size === 0) this.#done();
    for (const w of this.#workers) {
      if (w.isConnected()) w.send(SHUTDOWN);
    }
    const timer = setTimeout(() => {
      for (const w of this.#workers) w.process.kill("SIGKILL");
    }, this.#graceMs + 2000);
    await this.#finished;
    clearTimeout(timer);
  }

  /** In a worker on its own SO_REUSEPORT socket: tells the primary it listens. */
  static announce(address: SocketAddress): void {
    process.send?.({ [LISTENING]: address });
  }

  /** In a worker: shut the server down when the primary says so, then let the process end. */
  static serveInWorker(server: Stoppable): void {
    const onMessage = (message: unknown) => {
      if (message !== SHUTDOWN) return;
      process.off("message", onMessage);
      void server
        .shutdown()
        .then(() => server.close())
        .finally(() => cluster.worker?.disconnect());
    };
    process.on("message", onMessage);
  }
}

function fromClusterAddress(address: ClusterAddress): SocketAddress {
  if (address.addressType === -1 || typeof address.port !== "number")
    return String(address.address);
  const family = address.addressType === 6 ? AF_INET6 : AF_INET;
  return toSocketAddress(family, address.address ?? "", address.port);
}
