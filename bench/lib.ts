/**
 * What the benchmark scripts share: starting a server as a child process and knowing its
 * port, and medians with ratios to a baseline.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * Waits until /proc/net/tcp shows a listening socket on 127.0.0.1:port: probing with a
 * connection would be taken for a client by servers that serve one.
 */
export async function listeningOn(port: number): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  for (let i = 0; i < 500; i++) {
    const table = readFileSync("/proc/net/tcp", "utf8");
    if (table.split("\n").some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** A server started for a benchmark. */
export interface BenchServer {
  pid: number;
  port: number;
  stop: () => Promise<void>;
}

/**
 * Starts `command args` and learns its port: from its `listening on HOST:PORT` line on
 * stderr, or, with `portFromUs` (a server that prints none), by giving it a free port in
 * place of `{port}` in its arguments and waiting until that port listens.
 */
export async function startServer(
  command: string,
  args: readonly string[],
  portFromUs = false,
): Promise<BenchServer> {
  const chosen = portFromUs ? await freePort() : 0;
  const child = spawn(
    command,
    args.map((a) => a.replace("{port}", String(chosen))),
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  const port = portFromUs
    ? await listeningOn(chosen).then(() => chosen)
    : await new Promise<number>((resolve, reject) => {
        child.stderr.on("data", (c: Buffer) => {
          err += c.toString();
          const m = /listening on \S+:(\d+)/.exec(err);
          if (m) resolve(Number(m[1]));
        });
        child.on("exit", (code) => reject(new Error(`${command} exited (${code}): ${err}`)));
      });
  return {
    pid: child.pid as number,
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    },
  };
}

/** A process's resident memory, in bytes (from /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Sets each row's median of its runs, and its ratio to the first row's (the baseline). */
export function mediansAndRatios(
  rows: Array<{ runs: number[]; median: number | null; ratio?: number }>,
): void {
  for (const r of rows) if (r.runs.length > 0) r.median = median(r.runs);
  const base = rows[0]?.median;
  for (const r of rows) if (base && r.median !== null) r.ratio = r.median / base;
}
