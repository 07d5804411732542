/**
 * The ping-pong load generator of the benchmarks: the C epoll client
 * (`servers/epoll-client.c`, built with the system compiler) by default, which outruns
 * every server measured, or socketkit's own Node.js client (`socketkit bench`) when there
 * is no C compiler or `BENCH_CLIENT=node` asks for it.
 */
import { spawn } from "node:child_process";
import { bench } from "../src/apps/bench.ts";
import { compiledServer, SETTINGS } from "./lib.ts";

/** One measurement: verified round trips per second, and latency when the client times it. */
export interface Measurement {
  perSecond: number;
  p50Us: number | null;
  p99Us: number | null;
  /** UDP: datagrams without an echo in time (sent again). */
  lost: number;
  /** The generator's CPU seconds per second measured (1: a full core), when it reports it. */
  clientBusy: number | null;
}

/** Options of a run of {@link LoadGenerator.run}. */
export interface RunOptions {
  conns: number;
  /** Bytes per message. */
  size: number;
  /** Seconds measured. */
  seconds: number;
  udp: boolean;
}

export interface LoadGenerator {
  /** What the tables call it. */
  name: string;
  /** Why the C client is not used, when it is not. */
  fallback?: string;
  run(port: number, options: RunOptions): Promise<Measurement>;
}

/** The C client's line of JSON (see the head of servers/epoll-client.c). */
interface CResult {
  roundTrips: number;
  perSecond: number;
  errors: number;
  mismatches: number;
  lost: number;
  p50Us: number;
  p99Us: number;
  seconds: number;
  cpuSeconds: number;
}

/** Unmeasured seconds at the start of each C client run, for connecting and settling. */
const WARMUP = SETTINGS.smoke ? 0.1 : 0.25;

function cClient(path: string): LoadGenerator {
  return {
    name: "C epoll client (servers/epoll-client.c)",
    run: (port, o) =>
      new Promise((resolve, reject) => {
        const args = [o.udp ? "udp" : "tcp", "127.0.0.1", String(port), String(o.conns)];
        args.push(String(o.size), String(o.seconds), String(WARMUP));
        const child = spawn(path, args, { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
        });
        child.stderr.on("data", (c: Buffer) => {
          err += c.toString();
        });
        child.on("error", reject);
        child.on("close", (code) => {
          if (code === 0) {
            const r = JSON.parse(out) as CResult;
            resolve({
              perSecond: r.perSecond,
              p50Us: r.p50Us,
              p99Us: r.p99Us,
              lost: r.lost,
              clientBusy: r.seconds > 0 ? r.cpuSeconds / r.seconds : null,
            });
          } else {
            reject(
              new Error(
                `Cannot load 127.0.0.1:${port}: epoll-client exited ${code}: ${(out || err).trim()}`,
              ),
            );
          }
        });
      }),
  };
}

const nodeClient = (fallback?: string): LoadGenerator => ({
  name: "socketkit bench (Node.js)",
  ...(fallback === undefined ? {} : { fallback }),
  run: async (port, o) => {
    const r = await bench("127.0.0.1", port, {
      conns: o.conns,
      size: o.size,
      duration: o.seconds,
      udp: o.udp,
    });
    return {
      perSecond: r.perSecond,
      p50Us: r.latency === null ? null : r.latency.p50 * 1000,
      p99Us: r.latency === null ? null : r.latency.p99 * 1000,
      lost: r.lost,
      clientBusy: null,
    };
  },
});

/** The generator of this run: `BENCH_CLIENT=c` (the default) or `node`. */
export function loadGenerator(): LoadGenerator {
  if (process.env.BENCH_CLIENT === "node") return nodeClient();
  const c = compiledServer("epoll-client");
  return "path" in c ? cClient(c.path) : nodeClient(c.missing);
}
