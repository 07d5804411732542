import cluster, { type Address as ClusterAddress, type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { type SocketAddress, toSocketAddress } from "../core/address.ts";
import { AF_INET, AF_INET6, SO_REUSEPORT, SOL_SOCKET } from "../core/constants.ts";
import { SocketError } from "../core/errors.ts";
import { hasNative } from "../native/index.ts";
import "../native/register.ts";
import { Socket } from "../socket/socket.ts";

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
 * script (serving one port: see {@link WorkerPool.launch}), restarts a worker that dies,
 * and stops them all on `stop()`.
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

  /**
   * In the primary of a `workers` server: forks `count` workers running this script and
   * resolves with the pool and the address the first one serves. With the native addon
   * each worker binds a socket of its own with SO_REUSEPORT and the kernel spreads the
   * connections (or datagrams) among them; a port 0 is made concrete by binding one here
   * first, held until a worker has bound it. Without the addon the workers share one
   * socket that node:cluster makes in the primary.
   */
  static async launch(
    address: SocketAddress,
    family: number,
    type: number,
    count: number,
    log: (line: string) => void,
    graceSeconds: number,
  ): Promise<{ pool: WorkerPool; address: SocketAddress }> {
    const reserve = hasNative() ? await reservePort(address, family, type) : null;
    const env: Record<string, string> =
      reserve === null ? {} : { [REUSEPORT_ENV]: String(reserve.port) };
    const pool = new WorkerPool(count, log, graceSeconds, env);
    try {
      return { pool, address: await pool.start() };
    } finally {
      await reserve?.socket?.close();
    }
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

  /**
   * Asks every worker to shut down gracefully; kills those still alive after the grace
   * period. Resolves when all have exited; calling it again waits for the same.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  #stopped: Promise<void> | null = null;

  async #stop(): Promise<void> {
    this.#stopping = true;
    if (this.#workers.size === 0) this.#done();
    for (const w of this.#workers) {
      if (w.isConnected()) w.send(SHUTDOWN);
    }
    // An infinite grace period (`gracePeriod: Infinity`) waits for the workers as long as
    // they take; setTimeout would take it for 1 ms.
    const timer = Number.isFinite(this.#graceMs)
      ? setTimeout(() => {
          for (const w of this.#workers) w.process.kill("SIGKILL");
        }, this.#graceMs + 2000)
      : undefined;
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

/**
 * For workers on SO_REUSEPORT: the port they all bind (null for a Unix path). A port 0 is
 * made concrete by binding a socket here first, which the caller holds until they bind.
 */
async function reservePort(
  address: SocketAddress,
  family: number,
  type: number,
): Promise<{ port: number; socket: Socket | null } | null> {
  if (!Array.isArray(address)) return null;
  const [host, port] = address as [string, number];
  if (port !== 0) return { port, socket: null };
  const s = new Socket(family, type);
  try {
    s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    await s.bind([host, 0]);
    return { port: (s.getsockname() as [string, number])[1], socket: s };
  } catch (err) {
    await s.close();
    throw err;
  }
}

function fromClusterAddress(address: ClusterAddress): SocketAddress {
  if (address.addressType === -1 || typeof address.port !== "number")
    return String(address.address);
  const type: unknown = address.addressType;
  const family = type === 6 || type === "udp6" ? AF_INET6 : AF_INET;
  return toSocketAddress(family, address.address ?? "", address.port);
}
