/**
 * Two more scenarios for `npm run bench`:
 * - a one-way stream into a server that reads and drops it (socketkit's Socket against
 *   raw node:net and socat; iperf3 for the loopback's own limit), rate from
 *   `socketkit bench --mode stream`;
 * - 10,000 idle connections held by a server, its RSS growth per connection (socketkit's
 *   Socket and TCPServer against raw node:net).
 */
import { spawnSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { bench } from "../src/apps/bench.ts";
import {
  acceptedConnections,
  type BenchServer,
  mediansAndRatios,
  rssOf,
  SETTINGS,
  startServer,
} from "./lib.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const RUNS = SETTINGS.runs;
const SECONDS = SETTINGS.seconds;
const IDLE = SETTINGS.idleConns;
const IDLE_RUNS = SETTINGS.idleRuns;

export interface SimpleRow {
  name: string;
  median: number | null;
  runs: number[];
  skipped?: string;
  ratio?: number;
}

const tsNode = (file: string) =>
  [process.execPath, ["--import", "tsx", `${HERE}servers/${file}`]] as const;
/** MB/s of a one-way stream into each sink; runs interleaved. */
export async function streamBench(): Promise<SimpleRow[]> {
  const specs: Array<
    { name: string; run: () => Promise<BenchServer> } | { name: string; skipped: string }
  > = [
    { name: "raw node:net (drop)", run: () => startServer(...tsNode("net-sink.ts")) },
    { name: "socketkit Socket (recv loop)", run: () => startServer(...tsNode("socket-sink.ts")) },
    spawnSync("socat", ["-V"]).error === undefined
      ? {
          name: "socat (to /dev/null)",
          run: () =>
            startServer(
              "socat",
              ["-u", "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", "OPEN:/dev/null,wronly"],
              true,
            ),
        }
      : {
          name: "socat (to /dev/null)",
          skipped: "socat is not installed (apt-get install -y socat)",
        },
  ];
  const rows: SimpleRow[] = specs.map((s) => ({
    name: s.name,
    median: null,
    runs: [],
    ...("skipped" in s ? { skipped: s.skipped } : {}),
  }));
  const live: Array<{ row: SimpleRow; server: BenchServer }> = [];
  try {
    for (const [i, s] of specs.entries())
      if ("run" in s) live.push({ row: rows[i] as SimpleRow, server: await s.run() });
    for (let r = 0; r < RUNS; r++) {
      for (const { row, server } of live) {
        const result = await bench("127.0.0.1", server.port, { mode: "stream", duration: SECONDS });
        row.runs.push(result.sendRate / 1e6);
      }
    }
  } finally {
    await Promise.all(live.map((l) => l.server.stop()));
  }
  rows.push(await iperf3());
  mediansAndRatios(rows);
  return rows;
}

/** iperf3's own loopback figure (one stream), for reference. */
async function iperf3(): Promise<SimpleRow> {
  const row: SimpleRow = { name: "iperf3 (the loopback's limit)", median: null, runs: [] };
  if (spawnSync("iperf3", ["--version"]).error !== undefined) {
    row.skipped = "iperf3 is not installed (apt-get install -y iperf3)";
    return row;
  }
  const server = await startServer("iperf3", ["-s", "-B", "127.0.0.1", "-p", "{port}"], true);
  try {
    for (let r = 0; r < RUNS; r++) {
      const out = spawnSync(
        "iperf3",
        // iperf3 takes whole seconds (a fraction makes its client hang).
        [
          "-c",
          "127.0.0.1",
          "-p",
          String(server.port),
          "-t",
          String(Math.max(1, Math.round(SECONDS))),
          "-J",
        ],
        {
          encoding: "utf8",
        },
      );
      if (out.status !== 0) break;
      const json = JSON.parse(out.stdout) as { end: { sum_sent: { bits_per_second: number } } };
      row.runs.push(json.end.sum_sent.bits_per_second / 8 / 1e6);
    }
  } finally {
    await server.stop();
  }
  if (row.runs.length === 0) row.skipped = "iperf3 did not run";
  return row;
}

/** Server RSS growth per idle connection, bytes, with IDLE connections held. */
export async function idleBench(): Promise<SimpleRow[]> {
  const specs = [
    { name: "raw node:net (echo)", file: "net-echo.ts" },
    { name: "socketkit Socket (recv loop)", file: "socket-echo.ts" },
    { name: "socketkit TCPServer (recv handler)", file: "tcpserver-echo.ts" },
  ];
  const rows: SimpleRow[] = specs.map((spec) => ({ name: spec.name, median: null, runs: [] }));
  // A fresh server per run (RSS does not shrink after a run), runs interleaved.
  for (let run = 0; run < IDLE_RUNS; run++) {
    for (const [i, spec] of specs.entries()) {
      const server = await startServer(...tsNode(spec.file));
      const sockets: Socket[] = [];
      try {
        // A few connections first, so what is measured is per connection, not warm-up.
        await openMany(server.port, 100, sockets);
        await acceptedAll(server, 100);
        const before = rssOf(server.pid);
        await openMany(server.port, IDLE, sockets);
        await acceptedAll(server, 100 + IDLE);
        rows[i]?.runs.push((rssOf(server.pid) - before) / IDLE);
      } finally {
        for (const s of sockets) s.destroy();
        await server.stop();
      }
    }
  }
  mediansAndRatios(rows);
  return rows;
}

/** Waits until the server holds `count` connections, so the memory read next includes each. */
async function acceptedAll(server: BenchServer, count: number): Promise<void> {
  const held = () => acceptedConnections(server.pid, server.port);
  for (let i = 0; i < 600; i++) {
    if (held() >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `the server (pid ${server.pid}) accepted ${held()} of ${count} connections in 30 s`,
  );
}

async function openMany(port: number, count: number, into: Socket[]): Promise<void> {
  for (let first = 0; first < count; first += 500) {
    const n = Math.min(500, count - first);
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve, reject) => {
            const s = connect({ port, host: "127.0.0.1" }, () => resolve());
            s.on("error", reject);
            into.push(s);
          }),
      ),
    );
  }
}

export function printRows(title: string, unit: string, rows: SimpleRow[]): void {
  console.log(`\n${title}\n`);
  for (const r of rows) {
    const value =
      r.median === null ? `skipped: ${r.skipped}` : `${r.median.toFixed(1).padStart(10)} ${unit}`;
    const ratio = r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`.padStart(8);
    console.log(`${r.name.padEnd(40)} ${value} ${ratio}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printRows(
    "one-way stream, MB/s (ratio to raw node:net; target >= 1.0)",
    "MB/s",
    await streamBench(),
  );
  const idle = await idleBench();
  for (const r of idle) if (r.median !== null) r.median /= 1024;
  printRows(
    `${IDLE} idle connections, server RSS per connection (ratio to raw node:net; target <= 1.1)`,
    "KiB",
    idle,
  );
}
